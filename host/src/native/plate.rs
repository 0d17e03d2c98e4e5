//! Native build of `plugins/plate` (with the recogniser).

use super::admin_error;
use crate::runtime::worlds::plate::exports::wasmgate::plugin::plate_handler::{
    Failure, LoginRequest, Plate,
};
use crate::runtime::{AdminError, PluginCtx};

pub fn login(h: &PluginCtx, request: LoginRequest) -> bool {
    plate::login(h, &request.token)
}

pub fn recognize(h: &PluginCtx, image: Vec<u8>) -> Result<Plate, Failure> {
    match plate::recognize(h, &image) {
        Ok((color, plate)) => Ok(Plate {
            color: color.to_string(),
            plate,
        }),
        Err(plate::Failure::NotRecognised) => Err(Failure::NotRecognised),
        Err(plate::Failure::ImageNotReadable) => Err(Failure::ImageDisplayError),
        Err(plate::Failure::Misconfigured) => Err(Failure::RecogniserError),
    }
}

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    plate::admin(h, request).map_err(admin_error)
}
