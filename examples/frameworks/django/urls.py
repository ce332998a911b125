"""The example's URLs: each at the exact path the other examples use."""

from __future__ import annotations

from django.urls import path

from ..shop import REPORTS_URL, TENANT_PATH
from . import views

urlpatterns = [
    path("", views.page),
    path("orders", views.place_order),
    path("upload", views.upload),
    path("download", views.download_file),
    path("products", views.products),
    path("products/<str:product_id>", views.product),
    path("token", views.token),
    path("me", views.me),
    path(TENANT_PATH.lstrip("/"), views.tenant),
    path("webhooks", views.webhooks),
    path(REPORTS_URL.lstrip("/"), views.csp_reports),
    path("graphql", views.graphql),
]
