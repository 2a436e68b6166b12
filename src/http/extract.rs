//! Request extractors that fail with [`ApiError`]: JSON bodies and query
//! strings that name the offending field, and the authenticated caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::app::{App, Caller};

pub const SESSION_COOKIE: &str = "siaga_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body. Malformed JSON is a 400; a body that parses but does not
/// fit (missing or unknown field, wrong type) is a 422 naming the field;
/// a body over the limit is a 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_error)?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body whose every field is optional: no body at all reads as
/// `{}`, so a bare `POST` means the defaults.
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(body_error)?;
        // No body is `{}`, whatever `Content-Type` says (clients add it to
        // every request); any other body is JSON's, header and all.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        Json::from_request(request, state)
            .await
            .map(|Json(value)| JsonOrEmpty(value))
    }
}

/// The refusal of a field holding a NUL character: no text siaga stores
/// may hold one (PostgreSQL refuses it in text), so it is refused on the
/// way in, on both backends alike. Alert sources' text is the exception:
/// theirs is kept with U+FFFD in its place, as refusing would lose alerts.
pub fn nul_refused(status: StatusCode, field: &str) -> ApiError {
    ApiError::new(
        status,
        "invalid_text",
        format!("`{field}` holds a NUL character (\\u0000), which text here may not"),
    )
    .with_field(field)
}

/// The first of `pairs` (query, form or path parameters) whose name or
/// value holds a NUL character.
pub fn field_with_nul<K: AsRef<str>, V: AsRef<str>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Option<String> {
    pairs
        .into_iter()
        .find(|(key, value)| key.as_ref().contains('\0') || value.as_ref().contains('\0'))
        .map(|(key, _)| key.as_ref().replace('\0', "\u{FFFD}"))
}

/// Where in a JSON document a string (or a key) holds a NUL character, as
/// `events[0].summary`.
fn json_path_with_nul(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0').then(String::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            json_path_with_nul(item).map(|rest| format!("[{i}]{}", dotted(&rest)))
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(key.replace('\0', "\u{FFFD}"));
            }
            json_path_with_nul(item).map(|rest| format!("{key}{}", dotted(&rest)))
        }),
        _ => None,
    }
}

/// `rest` appended to a path: `.name` or `[0]`.
fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_string()
    } else {
        format!(".{rest}")
    }
}

/// Parses JSON, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // A NUL can only come escaped (a raw one is not valid JSON); look
    // closer only when the escape is there.
    if has_nul_escape(bytes)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = json_path_with_nul(&value)
    {
        let field = if path.is_empty() {
            "body".to_string()
        } else {
            path
        };
        return Err(nul_refused(StatusCode::UNPROCESSABLE_ENTITY, &field));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            // serde reports some mismatches of shape (an enum of variants
            // given `{}`) as syntax: only JSON that does not parse is.
            let unreadable = (inner.is_syntax() || inner.is_eof())
                && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err();
            if unreadable {
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                ))
            } else {
                // A missing field at the top is named by the message only.
                let field = crate::formats::field_of(&path, &inner.to_string());
                let field = (!field.is_empty()).then_some(field);
                let mut error = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    match &field {
                        Some(field) => format!("{field}: {inner}"),
                        None => inner.to_string(),
                    },
                );
                error.field = field;
                Err(error)
            }
        }
    }
}

/// Whether `bytes` hold `\u0000` in any case.
fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|b| *b == b'0'))
}

fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than this endpoint accepts",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            rejection.body_text(),
        )
    }
}

/// A query string; failures are 400 `invalid_query` naming the parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some(field) = field_with_nul(form_urlencoded::parse(query.as_bytes())) {
            return Err(nul_refused(StatusCode::BAD_REQUEST, &field));
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let field = error.path().to_string();
                let message = format!("query parameter `{field}`: {}", error.into_inner());
                let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message);
                if field == "." {
                    error
                } else {
                    error.with_field(field)
                }
            })
    }
}

/// A path parameter; a value of the wrong type is a 400 naming it.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Percent-decoded already.
        if let Ok(params) = axum::extract::RawPathParams::from_request_parts(parts, state).await
            && let Some(field) = field_with_nul(&params)
        {
            return Err(nul_refused(StatusCode::BAD_REQUEST, &field));
        }
        let rejection = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => return Ok(Path(value)),
            Err(rejection) => rejection,
        };
        // Name the parameter: axum names it only when there are several.
        let names: Vec<String> = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map(|params| params.iter().map(|(name, _)| name.to_string()).collect())
            .unwrap_or_default();
        let field = match &rejection {
            axum::extract::rejection::PathRejection::FailedToDeserializePathParams(error) => {
                use axum::extract::path::ErrorKind;
                match error.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::InvalidUtf8InPathParam { key } => Some(key.clone()),
                    ErrorKind::ParseErrorAtIndex { index, .. } => names.get(*index).cloned(),
                    ErrorKind::ParseError { .. } if names.len() == 1 => names.first().cloned(),
                    _ => None,
                }
            }
            _ => None,
        };
        let message = match &field {
            Some(field) => format!("path parameter `{field}`: {}", rejection.body_text()),
            None => rejection.body_text(),
        };
        let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", message);
        Err(match field {
            Some(field) => error.with_field(field),
            None => error,
        })
    }
}

/// The value of one cookie in the request.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The authenticated caller of an API route: a bearer token, or a browser
/// session. A session's unsafe requests must carry its CSRF token in the
/// `X-CSRF-Token` header, since the cookie alone travels with any request.
impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let caller = authenticate(&parts.headers, app).await?;
        if caller.token.is_none() && is_unsafe(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let matches = sent
                .zip(caller.csrf_token.as_deref())
                .is_some_and(|(sent, token)| crate::domain::auth::secrets_equal(sent, token));
            if !matches {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_token_mismatch",
                    "a browser session must send its CSRF token in the X-CSRF-Token header",
                )
                .with_field(CSRF_HEADER));
            }
        }
        Ok(caller)
    }
}

/// Who the credentials in `headers` belong to: a bearer token, else the
/// session cookie. Also how a long-lived response (the timeline stream)
/// checks they are still good.
pub(crate) async fn authenticate(headers: &HeaderMap, app: &App) -> Result<Caller, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let secret = value
            .to_str()
            .ok()
            // The scheme's name is case-insensitive (RFC 9110).
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        return Ok(app.authenticate_token(secret).await?);
    }
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send an API token as `Authorization: Bearer <token>`",
        ));
    };
    Ok(app.authenticate_session(secret).await?)
}

#[cfg(test)]
mod tests {
    use super::parse_json;
    use serde_json::Value;

    #[test]
    fn a_nul_is_found_where_it_is_and_nowhere_else() {
        let field = |body: &str| {
            parse_json::<Value>(body.as_bytes())
                .err()
                .and_then(|e| e.field)
        };
        assert_eq!(
            field(r#"{"a":[1,{"b":"x\u0000"}]}"#).as_deref(),
            Some("a[1].b")
        );
        assert_eq!(field(r#"{"k\u0000":1}"#).as_deref(), Some("k\u{FFFD}"));
        assert_eq!(field(r#"{"k\ufffd":"\\u0000 as text"}"#), None);
    }
}
