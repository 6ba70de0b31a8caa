//! Table tests across the operations.
