//! The chat page, embedded in the binary (no CDN, no external fonts: it works offline).

use super::error::ApiError;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/style.css");
const FAVICON: &str = include_str!("../../web/favicon.svg");

/// `GET /`: the page, with the centre's name and the server's time zone filled in (the page
/// shows every time in that zone, the one the assistant reads typed times in).
pub async fn index(State(s): State<AppState>) -> Response {
    let c = &s.config;
    let page = render_index(&c.centre_name, c.timezone.name(), &c.currency);
    ([(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response()
}

/// The page's HTML with `{{centre}}`, `{{timezone}}` and `{{currency}}` replaced (escaped:
/// they are settings, not markup).
fn render_index(centre: &str, timezone: &str, currency: &str) -> String {
    INDEX
        .replace("{{centre}}", &escape_html(centre))
        .replace("{{timezone}}", &escape_html(timezone))
        .replace("{{currency}}", &escape_html(currency))
}

/// Escapes text for an HTML element or a quoted attribute.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /assets/{file}`: the page's script, style and icon. `no-cache`: the browser
/// revalidates, so a new binary's page is never mixed with an old script.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        _ => return ApiError::no_route().into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_centre_name_is_escaped_into_the_page() {
        let page = render_index("<b>A&B</b> \"HPC\"", "Europe/Bratislava", "EUR");
        assert!(page.contains("&lt;b&gt;A&amp;B&lt;/b&gt; &quot;HPC&quot;"));
        assert!(!page.contains("<b>A&B"));
        assert!(page.contains("content=\"Europe/Bratislava\""));
        assert!(page.contains("content=\"EUR\""));
        assert!(!page.contains("{{"), "every placeholder is filled");
    }
}
