//! The whole binary uses one TLS crypto provider (aws-lc-rs, the AWS SDK's):
//! reqwest is built without one of its own, so it must find that one. These
//! fail if reqwest's rustls config cannot be built or never speaks TLS.

use std::time::Duration;

use tokio::io::AsyncReadExt;

#[tokio::test]
async fn an_https_client_builds_and_opens_with_a_tls_client_hello() {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("reqwest builds its rustls config from the one installed provider");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 3];
        socket.read_exact(&mut first).await.unwrap();
        first
    });
    // The handshake cannot finish (nobody answers); only the first bytes matter.
    let _ = client
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await;
    let first = server.await.unwrap();
    // A TLS record: content type 22 (handshake), protocol version 3.x.
    assert_eq!(first[0], 0x16, "not a TLS handshake record: {first:?}");
    assert_eq!(first[1], 0x03);
}
