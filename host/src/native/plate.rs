//! Native build of `plugins/plate` (with the recogniser).

use super::admin_error;
use crate::runtime::worlds::plate::exports::wasmgate::plugin::plate_handler::{
    Failure, LoginRequest, Plate,
};
use crate::runtime::{AdminError, PluginCtx};

plate::wit_plate_colour!(crate::runtime::worlds::plate::exports::wasmgate::plugin::plate_handler);

pub fn login(h: &PluginCtx, request: LoginRequest) -> bool {
    plate::login(h, &request.token)
}

pub fn recognize(h: &PluginCtx, image: Vec<u8>) -> Result<Plate, Failure> {
    match plate::recognize(h, &image) {
        Ok((c, plate)) => Ok(Plate {
            colour: colour(c),
            plate,
        }),
        Err(plate::Failure::NotRecognised) => Err(Failure::NotRecognised),
        Err(plate::Failure::ImageNotReadable) => Err(Failure::ImageDisplayError),
    }
}

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    plate::admin(h, request).map_err(admin_error)
}
