"""%%name%%: a wasmgate plugin of world `plate` (parking cameras).

The host owns the WebSocket, the binary frames, bz2, the MD5 check, the
login deadline and saving the photos; it asks the component whether a camera
may log in (`login`) and what plate a photo shows (`recognize`). The
decisions are in handler.py; this module binds them to the classes
componentize-py generates from wit/ (package `wit_world`).
"""

import handler
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import plate_handler as ph
from wit_world.imports import config, logging


class PlateHandler(exports.PlateHandler):
    def login(self, request: ph.LoginRequest) -> bool:
        ok = handler.login_ok(request.token, config.get("tokens"))
        if not ok:
            # Never log the token itself.
            logging.log(logging.Level.INFO, "login", f"refused a camera of {request.city}/{request.park}")
        return ok

    def recognize(self, camera: str, identify: str, image: bytes) -> ph.Plate:
        kind = handler.image_kind(image)
        if kind is None:
            raise Err(ph.Failure.IMAGE_DISPLAY_ERROR)
        # Your recogniser goes here: find the plate in `image` and
        # return ph.Plate(colour=ph.PlateColour.BLUE, plate="京A88731").
        logging.log(logging.Level.DEBUG, "recognize", f"{camera}/{identify}: {kind}, {len(image)} bytes")
        raise Err(ph.Failure.NOT_RECOGNISED)


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        """POST /admin/%%name%%: nothing to administer yet."""
        return "{}"
