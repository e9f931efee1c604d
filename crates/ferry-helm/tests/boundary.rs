//! ferry-helm stands alone: it must not depend on any other ferry crate.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[test]
fn no_dependency_on_the_rest_of_ferry() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("read Cargo.toml");
    let table: toml::Table = manifest.parse().expect("parse Cargo.toml");
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = table.get(section).and_then(|d| d.as_table()) {
            for name in deps.keys() {
                assert!(
                    !name.starts_with("ferry"),
                    "ferry-helm must not depend on {name} ({section})"
                );
            }
        }
    }
}

#[test]
fn public_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ferry_helm::Chart>();
    send_sync::<ferry_helm::Rendered>();
    send_sync::<ferry_helm::RenderOptions>();
    send_sync::<ferry_helm::Error>();
}
