//! Kubernetes object names, checked as the API server checks them (RFC 1123), with messages
//! that say what a valid name looks like.

/// A namespace, or any name that must be one DNS label.
pub fn dns_label(name: &str) -> Result<(), String> {
    if name.len() <= 63 && is_label(name) {
        return Ok(());
    }
    Err(format!(
        "{name:?} is not a valid name: at most 63 lower case letters, digits and '-', starting and ending with a letter or digit"
    ))
}

/// The name of most objects (Deployments, custom resources): DNS labels joined by dots.
pub fn dns_subdomain(name: &str) -> Result<(), String> {
    if name.len() <= 253 && name.split('.').all(is_label) {
        return Ok(());
    }
    Err(format!(
        "{name:?} is not a valid name: at most 253 lower case letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit"
    ))
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123() {
        for ok in ["web", "web-2", "a", "0web"] {
            assert_eq!(dns_label(ok), Ok(()), "{ok}");
            assert_eq!(dns_subdomain(ok), Ok(()), "{ok}");
        }
        assert_eq!(dns_subdomain("web.shop.v2"), Ok(()));
        assert_eq!(dns_subdomain(&"a".repeat(253)), Ok(()));
        assert_eq!(dns_label(&"a".repeat(63)), Ok(()));
        for bad in [
            "", "Web", "web_2", "-web", "web-", "wéb", "web/x", "web shop",
        ] {
            assert!(dns_label(bad).is_err(), "{bad}");
            assert!(dns_subdomain(bad).is_err(), "{bad}");
        }
        for bad in ["web.", ".web", "web..shop", "web.-shop", &"a".repeat(254)] {
            assert!(dns_subdomain(bad).is_err(), "{bad}");
        }
        assert!(dns_label("web.shop").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
    }
}
