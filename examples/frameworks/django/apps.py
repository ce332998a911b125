"""The example's Django app: its ``ready`` is where the flags start (Django has no lifespan)."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "frameworks.django"
    label = "shop"

    def ready(self) -> None:
        from .views import shop  # noqa: PLC0415 - views need the app registry ready

        shop.start()  # the flags' first load, then their refresh in a thread of their own
