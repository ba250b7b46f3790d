//! Listeners and decoders (design paragraph and example: to be written with the code).

pub mod decode;
