/// Placeholder until the `vm` driver lands.
enum VMDriverPlaceholder {}
