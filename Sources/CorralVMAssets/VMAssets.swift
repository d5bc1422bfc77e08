/// Namespace of the boot assets of the `vm` driver.
public enum VMAssets {}
