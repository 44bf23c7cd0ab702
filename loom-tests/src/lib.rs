//! Loom models for fusebox live in `tests/`; run them with `run.sh`.
