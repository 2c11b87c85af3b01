//! The HTML templates of the report and of `faultline serve`, rendered with minijinja.
//!
//! Every template is a file of its own under `src/report/templates/`, embedded in the binary
//! (`include_str!`), so the report stays one file that opens from disk and `serve` needs
//! nothing beside the executable. Templates escape every value by default (their names end
//! in `.html`); the only values marked safe are markup faultline drew itself — the SVG plots
//! from plotters — and each such place says so in the Rust code that marks it. A key, a value,
//! an error text or a spec field from the store can therefore never become markup.
//!
//! Data for the page's scripts goes through the `tojson` filter, which escapes `<`, `>`, `&`
//! and quotes, so a `</script>` inside a value cannot end a script block.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("report.html", include_str!("templates/report.html")),
    ("report.css", include_str!("templates/report.css")),
    ("sweep.html", include_str!("templates/sweep.html")),
    ("explorer.html", include_str!("templates/explorer.html")),
    ("explorer.js", include_str!("templates/explorer.js")),
    ("cycle.html", include_str!("templates/cycle.html")),
    ("logs.html", include_str!("templates/logs.html")),
    ("timeline.js", include_str!("templates/timeline.js")),
    ("style.css", include_str!("templates/style.css")),
    ("serve_base.html", include_str!("templates/serve_base.html")),
    ("serve_list.html", include_str!("templates/serve_list.html")),
    (
        "serve_compare.html",
        include_str!("templates/serve_compare.html"),
    ),
    ("serve_run.html", include_str!("templates/serve_run.html")),
    (
        "serve_error.html",
        include_str!("templates/serve_error.html"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A misspelt variable is a bug to see in tests, not an empty cell in a page.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Escaping is by the name's extension: `.html` escapes, `.css` (trusted, ours) not.
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name} does not parse: {e:#}"));
        }
        env
    })
}

/// Renders a template with `context`; a failure is a bug in faultline and names the
/// template and line.
pub fn render(name: &str, context: Value) -> anyhow::Result<String> {
    let template = env().get_template(name)?;
    template
        .render(context)
        .map_err(|e| anyhow::anyhow!("cannot render {name}: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            env().get_template(name).unwrap();
        }
    }

    #[test]
    fn a_value_holding_markup_renders_as_text() {
        let page = render(
            "serve_error.html",
            context! { title => "x", root => "", message => "<script>alert('x')</script>\"" },
        )
        .unwrap();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
    }
}
