//! Generated keys stay the same for the same site seed across versions of ferry: a re-deploy
//! must never rotate a key a chart generated. The digests below were produced by this crate
//! (its deterministic prime search) and pin it; a change to the generator or the prime search
//! that changes them breaks every site's generated keys.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use ferry_helm::{render, Chart, RenderOptions};

#[test]
fn a_generated_rsa_key_and_ca_are_pinned_for_a_seed() {
    let chart = Chart::from_files(
        vec![
            (
                "Chart.yaml".into(),
                b"apiVersion: v2\nname: keys\nversion: 0.1.0\n".to_vec(),
            ),
            (
                "templates/keys.yaml".into(),
                b"key: {{ genPrivateKey \"rsa\" | sha256sum }}\nca: {{ (genCA \"site-ca\" 365).Key | sha256sum }}\n"
                    .to_vec(),
            ),
        ],
        "keys",
    )
    .unwrap();
    let opts = RenderOptions {
        release_name: "rel".into(),
        namespace: "ns".into(),
        seed: b"a site secret that never changes\n".to_vec(),
        ..RenderOptions::default()
    };
    let out = render(&chart, &opts).unwrap().to_helm_output();
    assert_eq!(
        out,
        "---\n# Source: keys/templates/keys.yaml\nkey: 754921511a4133ab644b04840c1345da746018fba80245990b5abd141872cf60\nca: 752ce662854ed8fd92bc39149ae036332caeb68248f588681e8b012c098a1436\n"
    );
}
