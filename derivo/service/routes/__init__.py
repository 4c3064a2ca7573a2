"""The API's routes, one router per resource; ``create_app`` includes them all."""

from fastapi import APIRouter

from derivo.service.routes import derivatives, gallery, ops, originals, photos

#: ``/photos/{id}/original`` before ``/photos/{id}/{spec}``, which would take it otherwise.
ROUTERS: tuple[APIRouter, ...] = (
    gallery.router,
    photos.router,
    originals.router,
    derivatives.router,
    ops.router,
)

__all__ = ["ROUTERS"]
