//! Nothing here: this package only holds tests (`tests/`) that need a
//! runtime or a service fusebox itself does not depend on.
