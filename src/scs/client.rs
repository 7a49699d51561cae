//! WS-Management over HTTP/1.1 to one ME, with digest authentication.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::ScsError;
use super::tls::{find_tls_error, tls_failure};
use crate::amt::wsman::digest::{self, Authorization, Challenge};
use crate::amt::wsman::{Body, CONTENT_TYPE as SOAP_CONTENT_TYPE, Envelope, WSMAN_PATH};

/// Largest response body read; setup responses are a few kilobytes.
const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// A WS-Management client on one connection, which responds to digest challenges.
pub(super) struct WsManClient {
    sender: SendRequest<Full<Bytes>>,
    connection: Option<JoinHandle<Result<(), hyper::Error>>>,
    host: String,
    username: String,
    password: String,
    challenge: Option<Challenge>,
    nonce_count: u32,
    timeout: Duration,
}

impl WsManClient {
    /// Starts HTTP/1.1 on `stream`; `host` goes into the `Host` header.
    pub async fn start<S>(
        stream: S,
        host: String,
        username: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Self, ScsError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| http_failure("HTTP handshake", &error))?;
        let connection = tokio::spawn(connection);

        Ok(Self {
            sender,
            connection: Some(connection),
            host,
            username: username.into(),
            password: password.into(),
            challenge: None,
            nonce_count: 0,
            timeout,
        })
    }

    /// Uses another password from the next request on, as after CommitChanges.
    pub fn set_password(&mut self, password: &str) {
        self.password = password.into();
    }

    /// Sends `request` and returns the ME's response; a SOAP fault is an error.
    pub async fn exchange(&mut self, step: &str, request: &Envelope) -> Result<Envelope, ScsError> {
        let xml = request.to_xml();

        // One attempt without a fresh challenge, one more after the ME issued it.
        for _ in 0..2 {
            let sent_authorization = self.challenge.is_some();
            let response = self.send(step, &xml).await?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return self.read_envelope(step, response).await;
            }

            let challenge = challenge_of(&response).ok_or_else(|| status_error(step, StatusCode::UNAUTHORIZED))?;
            if sent_authorization && !challenge.stale {
                // The ME rejected a response to its own challenge, so the password is wrong.
                return Err(status_error(step, StatusCode::UNAUTHORIZED));
            }
            self.challenge = Some(challenge);
            self.nonce_count = 0;
        }
        Err(status_error(step, StatusCode::UNAUTHORIZED))
    }

    async fn send(&mut self, step: &str, xml: &str) -> Result<hyper::Response<hyper::body::Incoming>, ScsError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(WSMAN_PATH)
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, SOAP_CONTENT_TYPE);
        if let Some(authorization) = self.authorization() {
            builder = builder.header(AUTHORIZATION, authorization);
        }
        let request = builder
            .body(Full::new(Bytes::from(xml.to_owned())))
            .map_err(|error| ScsError::Http { step: step.into(), error: error.to_string() })?;

        match tokio::time::timeout(self.timeout, self.sender.send_request(request)).await {
            Err(_) => Err(ScsError::Timeout { step: step.into(), after: self.timeout }),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(self.connection_failure(step, error).await),
        }
    }

    /// Computes the `Authorization` header for the next request, once a challenge is known.
    fn authorization(&mut self) -> Option<String> {
        let challenge = self.challenge.as_ref()?;
        self.nonce_count += 1;
        let ha1 = digest::ha1(&self.username, &challenge.realm, &self.password);
        let cnonce = Uuid::new_v4().simple().to_string();
        let answer = Authorization::answer(
            challenge,
            &self.username,
            &ha1,
            Method::POST.as_str(),
            WSMAN_PATH,
            self.nonce_count,
            &cnonce,
        );
        Some(answer.to_header_value())
    }

    async fn read_envelope(
        &mut self,
        step: &str,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<Envelope, ScsError> {
        let status = response.status();
        let is_soap = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/soap+xml"));
        if !status.is_success() && !is_soap {
            return Err(status_error(step, status));
        }

        let body =
            match tokio::time::timeout(self.timeout, Limited::new(response.into_body(), MAX_RESPONSE_BODY).collect())
                .await
            {
                Err(_) => return Err(ScsError::Timeout { step: step.into(), after: self.timeout }),
                Ok(Err(error)) => return Err(ScsError::Http { step: step.into(), error: error.to_string() }),
                Ok(Ok(body)) => body.to_bytes(),
            };
        let text = String::from_utf8_lossy(&body);
        let envelope = Envelope::parse(&text).map_err(|error| ScsError::BadResponse { step: step.into(), error })?;

        match envelope.body {
            Body::Fault(fault) => Err(ScsError::SoapFault { step: step.into(), fault: Box::new(fault) }),
            _ if !status.is_success() => Err(status_error(step, status)),
            _ => Ok(envelope),
        }
    }

    /// Explains a failed request: a TLS alert from the ME when there was one, which may
    /// only be visible in the connection task's own error.
    async fn connection_failure(&mut self, step: &str, error: hyper::Error) -> ScsError {
        if let Some(tls) = find_tls_error(&error) {
            return tls_failure(tls);
        }
        if let Some(connection) = self.connection.take()
            && let Ok(Ok(Err(connection_error))) = tokio::time::timeout(Duration::from_secs(1), connection).await
            && let Some(tls) = find_tls_error(&connection_error)
        {
            return tls_failure(tls);
        }
        http_failure(step, &error)
    }
}

impl WsManClient {
    /// Closes the connection: dropping the sender lets HTTP finish and shut TLS down with
    /// close_notify, and a connection that does not finish in a second is aborted.
    pub async fn close(mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        let abort = connection.abort_handle();
        drop(self);
        if tokio::time::timeout(Duration::from_secs(1), connection).await.is_err() {
            abort.abort();
        }
    }
}

impl Drop for WsManClient {
    fn drop(&mut self) {
        if let Some(connection) = &self.connection {
            connection.abort();
        }
    }
}

fn challenge_of(response: &hyper::Response<hyper::body::Incoming>) -> Option<Challenge> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| Challenge::parse(value).ok())
}

fn status_error(step: &str, status: StatusCode) -> ScsError {
    ScsError::HttpStatus { step: step.into(), status: status.as_u16() }
}

fn http_failure(step: &str, error: &hyper::Error) -> ScsError {
    if let Some(tls) = find_tls_error(error) {
        return tls_failure(tls);
    }
    ScsError::Http { step: step.into(), error: error.to_string() }
}
