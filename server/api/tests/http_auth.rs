//! API keys: several `--api-key`s and an `--api-key-file` are each accepted on the user
//! routes; the admin key opens only the admin routes, and user keys never open those.

mod http_support;

use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_key_opens_the_user_routes_and_only_the_admin_key_the_admin_ones() {
    let file = std::env::temp_dir().join(format!("ponder-keys-{}", std::process::id()));
    std::fs::write(&file, "# team keys\nkey-from-file\n\n").unwrap();
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/assets/tiny-reasoner");
    let flags = ["--kv-cache-memory", "16MiB", "--api-key", "k1", "--api-key", "k2", "--api-key-file", file.to_str().unwrap(), "--admin-api-key", "adm"];
    let base = http_support::start_server_with(model.to_str().unwrap(), &flags).await;
    let client = reqwest::Client::new();
    let models = |key: Option<&'static str>| {
        let r = client.get(format!("{base}/v1/models"));
        let r = match key {
            Some(k) => r.bearer_auth(k),
            None => r,
        };
        async move { r.send().await.unwrap().status().as_u16() }
    };
    for key in ["k1", "k2", "key-from-file"] {
        assert_eq!(models(Some(key)).await, 200, "{key}");
    }
    for key in [None, Some("k3"), Some("k1k1"), Some("adm"), Some("# team keys")] {
        assert_eq!(models(key).await, 401, "{key:?}");
    }
    let admin = |key: &'static str| {
        let r = client.get(format!("{base}/is_paused")).bearer_auth(key);
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(admin("adm").await, 200);
    assert_eq!(admin("k1").await, 401, "a user key never opens an admin route");
    let _ = std::fs::remove_file(file);
}
