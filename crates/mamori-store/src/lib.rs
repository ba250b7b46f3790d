//! Store (to be written).
