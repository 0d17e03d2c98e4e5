// %%name%%: a wasmgate plugin of world `plate` (parking cameras).
//
// The host owns the WebSocket, the binary frames, bz2, the MD5 check, the
// login deadline and saving the photos; it asks the component whether a
// camera may log in (`login`) and what plate a photo shows (`recognize`).
// The decisions are in handler.js; this module binds them to the WIT world
// (imported interfaces are ES modules named by their full WIT name, exported
// ones objects named in camelCase; an enum is its case name, and a thrown
// case name is the WIT `result` error).

import config from "wasmgate:plugin/config@1.0.0";
import logging from "wasmgate:plugin/logging@1.0.0";
import { imageKind, loginOk } from "./handler.js";

export const plateHandler = {
  login(request) {
    const ok = loginOk(request.token, config.get("tokens"));
    // Never log the token itself.
    if (!ok) logging.log("info", "login", `refused a camera of ${request.city}/${request.park}`);
    return ok;
  },
  recognize(camera, identify, image) {
    const kind = imageKind(image);
    if (kind === null) throw "image-display-error";
    // Your recogniser goes here: find the plate in `image` and
    // return { colour: "blue", plate: "京A88731" }.
    logging.log("debug", "recognize", `${camera}/${identify}: ${kind}, ${image.length} bytes`);
    throw "not-recognised";
  },
};

export const admin = {
  /** POST /admin/%%name%%: nothing to administer yet. */
  handle(request) {
    return "{}";
  },
};
