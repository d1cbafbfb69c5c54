//! The Activity page: a static HTML/CSS/JS app embedded in the binary. It
//! needs no key to load; the page asks for one and calls the JSON API with
//! it, so the assets carry no org data and are public.

use audit_domain::problem::Problem;
use audit_http::legacy::{self as edge, HttpResponse};
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use http::{HeaderValue, Method};

const PAGE: &str = include_str!("../assets/activity.html");
const STYLE: &str = include_str!("../assets/activity.css");
const SCRIPT: &str = include_str!("../assets/activity.js");

/// Scripts and styles only from this origin (no inline code), API calls only
/// to it, and the page never framed: event data can never become code.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// The asset at `path` (trailing slashes already trimmed), or `None` when
/// the path is not the page's.
fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/activity" => Some(("text/html; charset=utf-8", PAGE)),
        "/activity/activity.css" => Some(("text/css; charset=utf-8", STYLE)),
        "/activity/activity.js" => Some(("text/javascript; charset=utf-8", SCRIPT)),
        _ => None,
    }
}

/// Whether `path` belongs to the page (its assets or an unknown file under
/// it), so the router answers it here, without asking for a key.
pub fn owns(path: &str) -> bool {
    path == "/activity" || path.starts_with("/activity/")
}

/// Serves a path that [`owns`] accepted.
pub fn serve(method: &Method, path: &str) -> HttpResponse {
    let Some((content_type, body)) = asset(path) else {
        return edge::problem(&Problem::not_found("No such file of the Activity page."));
    };
    if method != Method::GET && method != Method::HEAD {
        return edge::method_not_allowed(&["GET", "HEAD"]);
    }
    let body = if method == Method::HEAD {
        String::new()
    } else {
        body.to_string()
    };
    let mut response = edge::respond(200, content_type, body);
    let headers = response.headers_mut();
    // Revalidate on every load, so a deploy is seen at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a HttpResponse, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn each_asset_has_its_content_type_and_strict_headers() {
        for (path, kind) in [
            ("/activity", "text/html"),
            ("/activity/activity.css", "text/css"),
            ("/activity/activity.js", "text/javascript"),
        ] {
            let r = serve(&Method::GET, path);
            assert_eq!(r.status(), 200, "{path}");
            assert!(header(&r, "content-type").starts_with(kind), "{path}");
            assert_eq!(header(&r, "cache-control"), "no-cache");
            assert_eq!(header(&r, "x-content-type-options"), "nosniff");
            let csp = header(&r, "content-security-policy");
            assert!(csp.contains("default-src 'self'"), "{csp}");
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(csp.contains("connect-src 'self'"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        assert!(!PAGE.contains("<script>"));
        assert!(!PAGE.contains("style="));
        assert!(!PAGE.contains("<style"));
        assert!(PAGE.contains("src=\"/activity/activity.js\""));
    }

    #[test]
    fn the_script_never_writes_html() {
        assert!(!SCRIPT.contains("innerHTML"));
        assert!(!SCRIPT.contains("outerHTML"));
        assert!(!SCRIPT.contains("insertAdjacentHTML"));
    }

    #[test]
    fn unknown_files_and_other_methods_are_refused() {
        assert_eq!(serve(&Method::GET, "/activity/other.js").status(), 404);
        let refused = serve(&Method::POST, "/activity");
        assert_eq!(refused.status(), 405);
        assert_eq!(header(&refused, "allow"), "GET, HEAD");
        assert!(serve(&Method::HEAD, "/activity").body().is_empty());
        assert!(owns("/activity") && owns("/activity/x") && !owns("/activityx"));
    }
}
