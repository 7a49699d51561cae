//! The ME's WS-Management endpoint: HTTP/1.1 on the TLS connection the setup server
//! opened, digest authentication, and the setup operations on the ME's state.

mod auth;
mod operations;
mod state;
mod store;
mod tls_setup;

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderValue, SERVER, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedSender;

pub use state::{ADMIN_USERNAME, AdminCredentials, AmtState, AuditRecord};
pub use store::{CertificateStore, TlsIdentity};

use self::auth::NonceTable;
use self::operations::{Enumerations, describe_request};
use crate::amt::wsman::{CONTENT_TYPE as SOAP_CONTENT_TYPE, Envelope, Fault, FaultSubcode, ProvisioningState, WSMAN_PATH};

/// Largest request body read; setup messages are a few kilobytes.
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// How long a client may take to send a request's headers before the ME closes the
/// connection.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One request the ME served, for the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsManEvent {
    /// The operation, such as `Get AMT_GeneralSettings`, or the HTTP request line when
    /// the request never reached WS-Management.
    pub action: String,
    /// Summary of the ME's response.
    pub detail: String,
    /// Whether this request moved the ME from setup to ProvisioningState Post. Events of
    /// one connection arrive in order, so every request before the commit is reported by
    /// the time this one is.
    pub committed: bool,
}

/// Failure that stopped serving a connection before the client closed it.
#[derive(Debug, thiserror::Error)]
pub enum WsManServerError {
    #[error("HTTP connection with the setup server failed: {0}")]
    Http(#[from] hyper::Error),
}

/// What every WS-Management connection of one ME shares: its state, the digest nonces it
/// issued and its open enumerations. Clients such as MeshCentral close the connection
/// after a 401 and answer the challenge on a new one, so nonces outlive connections.
#[derive(Debug)]
pub struct WsManEndpoint {
    pub state: Arc<Mutex<AmtState>>,
    nonces: Mutex<NonceTable>,
    enumerations: Mutex<Enumerations>,
    /// `Server` header of every response, as AMT sends it; clients read the version there.
    server_header: HeaderValue,
}

impl WsManEndpoint {
    pub fn new(state: AmtState) -> Arc<Self> {
        let server = format!("Intel(R) Active Management Technology {}", state.amt_version);
        let server_header = HeaderValue::from_str(&server).unwrap_or_else(|_| HeaderValue::from_static("Intel(R) Active Management Technology"));
        Arc::new(Self { state: Arc::new(Mutex::new(state)), nonces: Mutex::default(), enumerations: Mutex::default(), server_header })
    }
}

/// One connection: the ME's endpoint and where the requests served are reported.
struct Connection {
    endpoint: Arc<WsManEndpoint>,
    events: UnboundedSender<WsManEvent>,
}

/// Serves WS-Management on one connection until the client closes it.
pub async fn serve_connection<S>(
    stream: S,
    endpoint: Arc<WsManEndpoint>,
    events: UnboundedSender<WsManEvent>,
) -> Result<(), WsManServerError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = Arc::new(Connection { endpoint, events });
    let service = hyper::service::service_fn(move |request| {
        let connection = Arc::clone(&connection);
        async move {
            let mut response = connection.respond(request).await;
            response.headers_mut().insert(SERVER, connection.endpoint.server_header.clone());
            Ok::<_, Infallible>(response)
        }
    });

    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await?;
    Ok(())
}

impl Connection {
    async fn respond(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let request_line = format!("{} {}", request.method(), request.uri().path());

        if request.method() != Method::POST {
            self.report(&request_line, "405: only POST is served");
            return plain(StatusCode::METHOD_NOT_ALLOWED)
                .header(ALLOW, "POST")
                .body(Full::default())
                .unwrap_or_default();
        }
        if request.uri().path() != WSMAN_PATH {
            self.report(&request_line, "404: WS-Management is served on /wsman");
            return plain(StatusCode::NOT_FOUND).body(Full::default()).unwrap_or_default();
        }
        if let Some(challenge) = self.challenge_unless_authenticated(&request, &request_line) {
            return challenge;
        }

        match Limited::new(request.into_body(), MAX_REQUEST_BODY).collect().await {
            Ok(body) => self.serve_envelope(&body.to_bytes()),
            Err(error) => {
                self.report(&request_line, &format!("413: request body not read: {error}"));
                plain(StatusCode::PAYLOAD_TOO_LARGE).body(Full::default()).unwrap_or_default()
            }
        }
    }

    /// Checks the digest credentials, and returns the 401 response to send when they fail.
    fn challenge_unless_authenticated(
        &self,
        request: &Request<Incoming>,
        request_line: &str,
    ) -> Option<Response<Full<Bytes>>> {
        let (realm, admin) = {
            let state = self.state();
            (state.digest_realm.clone(), state.admin.clone())
        };
        let header = request.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok());
        let mut nonces = self.endpoint.nonces.lock().unwrap_or_else(PoisonError::into_inner);

        let Err(failure) = nonces.check(header, request.method().as_str(), &realm, &admin) else {
            return None;
        };
        let challenge = nonces.challenge(&realm, failure.is_stale());
        tracing::debug!(reason = failure.describe(), "WS-Management request not authenticated");
        self.report(request_line, &format!("401: {}", failure.describe()));
        let response =
            plain(StatusCode::UNAUTHORIZED).header(WWW_AUTHENTICATE, challenge.to_header_value()).body(Full::default());
        Some(response.unwrap_or_default())
    }

    fn serve_envelope(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let request = std::str::from_utf8(body)
            .map_err(|error| Fault::new(FaultSubcode::SchemaValidationError, format!("request is not UTF-8: {error}")))
            .and_then(|text| Envelope::parse(text).map_err(request_fault));

        let (envelope, status, action, detail, committed) = match request {
            Ok(request) => {
                let action = describe_request(&request.header);
                let (reply, committed) = {
                    let mut state = self.state();
                    let before = state.provisioning_state;
                    let mut enumerations = self.endpoint.enumerations.lock().unwrap_or_else(PoisonError::into_inner);
                    let reply = operations::handle(&mut state, &mut enumerations, &request);
                    (reply, before != ProvisioningState::Post && state.provisioning_state == ProvisioningState::Post)
                };
                let status = status_of(&reply.envelope);
                (reply.envelope, status, action, reply.detail, committed)
            }
            Err(fault) => {
                let detail = format!("fault {fault}");
                let status = fault.http_status();
                (Envelope::fault(None, fault), status, "POST /wsman".to_owned(), detail, false)
            }
        };

        tracing::debug!(action, status, detail, "WS-Management request served");
        let _ = self.events.send(WsManEvent { action, detail, committed });
        soap_response(status, envelope.to_xml())
    }

    fn state(&self) -> MutexGuard<'_, AmtState> {
        self.endpoint.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, action: &str, detail: &str) {
        // The orchestrator may have stopped listening; the request is still served.
        let _ = self.events.send(WsManEvent { action: action.into(), detail: detail.into(), committed: false });
    }
}

/// Builds the fault for a request that is not a readable envelope.
fn request_fault(error: crate::amt::wsman::WsManError) -> Fault {
    use crate::amt::wsman::WsManError;
    let subcode = match error {
        WsManError::MissingElement { element: "wsa:Action" } => FaultSubcode::MessageInformationHeaderRequired,
        _ => FaultSubcode::SchemaValidationError,
    };
    Fault::new(subcode, error.to_string())
}

fn status_of(envelope: &Envelope) -> u16 {
    match &envelope.body {
        crate::amt::wsman::Body::Fault(fault) => fault.http_status(),
        _ => 200,
    }
}

fn plain(status: StatusCode) -> hyper::http::response::Builder {
    Response::builder().status(status)
}

fn soap_response(status: u16, xml: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, SOAP_CONTENT_TYPE)
        .body(Full::new(Bytes::from(xml)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
