//! Outbound HTTP: the one place HTTP clients are made. reqwest is built on
//! rustls with the ring crypto provider, which must be installed once per
//! process before the first client, or reqwest panics.

use std::sync::{Once, OnceLock};
use std::time::Duration;

use anyhow::Context;

/// A client builder with siaga's defaults; see [`http_client`].
pub fn client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Fails only if a provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .user_agent(concat!("siaga/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(30))
}

/// The process's HTTP client for deliveries, built once: building one
/// loads the root certificates, and sharing it keeps connections to
/// receivers alive between deliveries. It follows no redirect: following
/// one turns a POST into a bodiless GET (and carries the signature headers
/// to wherever it points), whose 200 would count as delivered.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let client = client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    Ok(CLIENT.get_or_init(|| client).clone())
}
