"""The API's routes, one router per resource; ``create_app`` includes them all."""

from fastapi import APIRouter

from derivo.service.routes import derivatives, gallery, ops, photos

ROUTERS: tuple[APIRouter, ...] = (gallery.router, photos.router, derivatives.router, ops.router)

__all__ = ["ROUTERS"]
