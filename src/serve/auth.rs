//! HTTP basic authentication of `serve` requests (RFC 7617).

use base64::Engine as _;

/// The one `user:password` pair a server accepts.
#[derive(Clone)]
pub struct BasicAuth {
    credentials: Vec<u8>,
}

/// Why credentials cannot guard a server.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The user name is empty.
    #[error("the basic-auth user name is empty")]
    EmptyUser,
    /// The user name holds a colon, which basic auth cannot carry.
    #[error("the basic-auth user name must not contain ':'")]
    ColonInUser,
    /// The password is empty.
    #[error("the basic-auth password is empty: set a non-empty $FERRY_SERVE_PASSWORD")]
    EmptyPassword,
}

impl BasicAuth {
    /// Accepts `user` with `password`; both must be non-empty.
    pub fn new(user: &str, password: &str) -> Result<Self, AuthError> {
        if user.is_empty() {
            return Err(AuthError::EmptyUser);
        }
        if user.contains(':') {
            return Err(AuthError::ColonInUser);
        }
        if password.is_empty() {
            return Err(AuthError::EmptyPassword);
        }
        Ok(Self {
            credentials: format!("{user}:{password}").into_bytes(),
        })
    }

    /// Whether an `Authorization` header value carries these credentials. The
    /// scheme name is case-insensitive (RFC 9110 §11.1); the credentials are
    /// compared in time independent of where they differ.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization.and_then(|v| std::str::from_utf8(v).ok()) else {
            return false;
        };
        let value = value.trim();
        let Some((scheme, token)) = value.split_once([' ', '\t']) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(given) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
            return false;
        };
        constant_time_eq(&given, &self.credentials)
    }
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the password
        f.write_str("BasicAuth(..)")
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(scheme: &str, creds: &str) -> Vec<u8> {
        format!(
            "{scheme} {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
        .into_bytes()
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        let auth = BasicAuth::new("puller", "secret").unwrap();
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            assert!(
                auth.admits(Some(&header(scheme, "puller:secret"))),
                "{scheme}"
            );
        }
        assert!(!auth.admits(Some(&header("Bearer", "puller:secret"))));
    }

    #[test]
    fn wrong_or_missing_credentials_are_refused() {
        let auth = BasicAuth::new("puller", "secret").unwrap();
        assert!(!auth.admits(None));
        assert!(!auth.admits(Some(&header("Basic", "puller:secreT"))));
        assert!(!auth.admits(Some(&header("Basic", "puller:"))));
        assert!(!auth.admits(Some(&header("Basic", "puller:secret2"))));
        assert!(!auth.admits(Some(b"Basic !!notbase64")));
        assert!(!auth.admits(Some(b"Basic")));
    }

    #[test]
    fn empty_passwords_and_users_are_refused() {
        assert!(matches!(
            BasicAuth::new("admin", ""),
            Err(AuthError::EmptyPassword)
        ));
        assert!(matches!(BasicAuth::new("", "x"), Err(AuthError::EmptyUser)));
        assert!(matches!(
            BasicAuth::new("a:b", "x"),
            Err(AuthError::ColonInUser)
        ));
    }
}
