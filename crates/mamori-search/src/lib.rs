//! Search (to be written).
