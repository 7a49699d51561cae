use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use uuid::Uuid;

use super::*;
use crate::amt::wsman::digest::{self, Authorization, Challenge};
use crate::amt::wsman::{Body, GeneralSettings, action, uri};

/// An HTTP client on one in-memory connection to `serve_connection`.
struct TestClient {
    sender: SendRequest<Full<Bytes>>,
    state: Arc<Mutex<AmtState>>,
    events: UnboundedReceiver<WsManEvent>,
    nonce_count: u32,
}

struct Answer {
    status: StatusCode,
    challenge: Option<Challenge>,
    content_type: Option<String>,
    body: String,
}

impl TestClient {
    async fn start() -> Self {
        let endpoint = WsManEndpoint::new(AmtState::new("4.1.1", Uuid::nil(), "vpro-1", "jcert.info"));
        let state = Arc::clone(&endpoint.state);
        let (events_sender, events) = unbounded_channel();
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve_connection(server_end, endpoint, events_sender));

        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(client_end)).await.unwrap();
        tokio::spawn(connection);
        Self { sender, state, events, nonce_count: 0 }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: impl AsRef<[u8]>,
        authorization: Option<String>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path).header("host", "127.0.0.1:16993");
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let response = self
            .sender
            .send_request(request.body(Full::new(Bytes::copy_from_slice(body.as_ref()))).unwrap())
            .await
            .unwrap();

        let status = response.status();
        let challenge =
            response.headers().get(WWW_AUTHENTICATE).map(|value| Challenge::parse(value.to_str().unwrap()).unwrap());
        let content_type = response.headers().get(CONTENT_TYPE).map(|value| value.to_str().unwrap().to_owned());
        let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        Answer { status, challenge, content_type, body }
    }

    /// Posts an envelope as `admin` with `password`, responding to the ME's challenge.
    async fn post(&mut self, envelope: &Envelope, password: &str) -> Answer {
        let first = self.send(Method::POST, "/wsman", &envelope.to_xml(), None).await;
        assert_eq!(first.status, StatusCode::UNAUTHORIZED);
        let challenge = first.challenge.expect("401 carries a challenge");

        self.nonce_count += 1;
        let ha1 = digest::ha1("admin", &challenge.realm, password);
        let answer = Authorization::answer(&challenge, "admin", &ha1, "POST", "/wsman", self.nonce_count, "cnonce");
        self.send(Method::POST, "/wsman", &envelope.to_xml(), Some(answer.to_header_value())).await
    }

    fn drain_events(&mut self) -> Vec<WsManEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }
}

fn fault_of(answer: &Answer) -> Fault {
    match Envelope::parse(&answer.body).unwrap().body {
        Body::Fault(fault) => fault,
        other => panic!("expected a fault, got {}", other.describe()),
    }
}

#[tokio::test]
async fn unauthenticated_request_gets_digest_challenge() {
    let mut client = TestClient::start().await;
    let realm = client.state.lock().unwrap().digest_realm.clone();

    let answer =
        client.send(Method::POST, "/wsman", &Envelope::get(uri::AMT_GENERAL_SETTINGS, "1").to_xml(), None).await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let challenge = answer.challenge.unwrap();
    assert_eq!(challenge.realm, realm);
    assert!(!challenge.stale);
    assert_eq!(
        client.drain_events(),
        vec![WsManEvent { action: "POST /wsman".into(), detail: "401: no Authorization header".into(), committed: false }]
    );
}

#[tokio::test]
async fn empty_password_works_in_setup_mode() {
    let mut client = TestClient::start().await;

    let answer = client.post(&Envelope::get(uri::AMT_GENERAL_SETTINGS, "7"), "").await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type.as_deref(), Some(crate::amt::wsman::CONTENT_TYPE));
    let envelope = Envelope::parse(&answer.body).unwrap();
    assert_eq!(envelope.header.action, action::GET_RESPONSE);
    assert_eq!(envelope.header.relates_to.as_deref(), Some("7"));
    let settings = GeneralSettings::from_object(&envelope.into_object("AMT_GeneralSettings").unwrap()).unwrap();
    assert_eq!(settings.digest_realm, client.state.lock().unwrap().digest_realm);
    let events = client.drain_events();
    assert_eq!(events.last().unwrap().action, "Get AMT_GeneralSettings");
    assert!(events.last().unwrap().detail.starts_with("DigestRealm Digest:"), "{:?}", events.last());
}

#[tokio::test]
async fn wrong_digest_credentials_get_401() {
    let mut client = TestClient::start().await;

    let answer = client.post(&Envelope::get(uri::AMT_GENERAL_SETTINGS, "1"), "not-empty").await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge.is_some());
    let last = client.drain_events().pop().unwrap();
    assert_eq!(last.detail, "401: wrong digest response: wrong password");
}

#[tokio::test]
async fn unknown_action_gets_soap_fault_and_connection_stays() {
    let mut client = TestClient::start().await;
    let unknown = Envelope::request(
        action::invoke(uri::AMT_GENERAL_SETTINGS, "Frobnicate"),
        uri::AMT_GENERAL_SETTINGS,
        "1",
        Body::Empty,
    );

    let answer = client.post(&unknown, "").await;
    let after = client.post(&Envelope::get(uri::AMT_GENERAL_SETTINGS, "2"), "").await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let fault = fault_of(&answer);
    assert_eq!(fault.subcode, FaultSubcode::ActionNotSupported);
    assert_eq!(Envelope::parse(&answer.body).unwrap().header.action, action::ADDRESSING_FAULT);
    assert_eq!(after.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_get_faults() {
    let mut client = TestClient::start().await;
    let no_action =
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>"#;

    let challenge = client.send(Method::POST, "/wsman", "", None).await.challenge.unwrap();
    let authorized = |count: u32| {
        let ha1 = digest::ha1("admin", &challenge.realm, "");
        Some(Authorization::answer(&challenge, "admin", &ha1, "POST", "/wsman", count, "c").to_header_value())
    };
    let not_xml = client.send(Method::POST, "/wsman", "<not xml", authorized(1)).await;
    let not_utf8 = client.send(Method::POST, "/wsman", b"\xff\xfe", authorized(2)).await;
    let missing_action = client.send(Method::POST, "/wsman", no_action, authorized(3)).await;

    assert_eq!(not_xml.status, StatusCode::BAD_REQUEST);
    assert_eq!(fault_of(&not_xml).subcode, FaultSubcode::SchemaValidationError);
    assert_eq!(fault_of(&not_utf8).subcode, FaultSubcode::SchemaValidationError);
    assert_eq!(fault_of(&missing_action).subcode, FaultSubcode::MessageInformationHeaderRequired);
}

#[tokio::test]
async fn other_methods_and_paths_are_refused() {
    let mut client = TestClient::start().await;

    let get = client.send(Method::GET, "/wsman", "", None).await;
    let elsewhere = client.send(Method::POST, "/index.htm", "", None).await;

    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn committed_admin_password_replaces_empty_one() {
    let mut client = TestClient::start().await;
    {
        let mut state = client.state.lock().unwrap();
        state.pending_admin = Some(AdminCredentials::from_password("admin", &state.digest_realm.clone(), "N3w-Admin"));
        state.commit();
    }

    let old = client.post(&Envelope::get(uri::AMT_GENERAL_SETTINGS, "1"), "").await;
    let new = client.post(&Envelope::get(uri::AMT_GENERAL_SETTINGS, "2"), "N3w-Admin").await;

    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(new.status, StatusCode::OK);
}
