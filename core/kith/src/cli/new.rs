//! `kith plugin new NAME --lang rust|python|js`: writes a plugin project that stands alone,
//! wherever it is created: a scorer with native tests, the SDK for its language (vendored, so
//! that it matches the contract this `kith` speaks), the contract's WIT, an input for
//! `kith plugin run`, and a README from there to a running plugin.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Lang {
    /// Rust (cargo, the wasm32-unknown-unknown target).
    Rust,
    /// Python (componentize-py).
    Python,
    /// JavaScript (componentize-js or componentize-qjs).
    Js,
}

/// A file of a template: its path in the project and its text.
type File = (&'static str, &'static str);

macro_rules! files {
    ($($path:literal => $source:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../", $source)))),*]
    };
}

/// The contract the Python and JavaScript SDKs speak (0.1.0; the host runs it beside 0.2.0).
const WIT_0_1: &[File] = files![
    "wit/kith-plugin@0.1.0/types.wit" => "plugin-sdk/wit/since_v0.1.0/types.wit",
    "wit/kith-plugin@0.1.0/worlds.wit" => "plugin-sdk/wit/since_v0.1.0/worlds.wit",
];

/// The contract the Rust SDK speaks (the latest).
const WIT_0_2: &[File] = files![
    "wit/kith-plugin@0.2.0/types.wit" => "plugin-sdk/wit/since_v0.2.0/types.wit",
    "wit/kith-plugin@0.2.0/worlds.wit" => "plugin-sdk/wit/since_v0.2.0/worlds.wit",
];

const RUST: &[File] = files![
    "Cargo.toml" => "plugin-sdk/templates/rust/Cargo.toml",
    ".cargo/config.toml" => ".cargo/config.toml",
    "src/lib.rs" => "plugin-sdk/templates/rust/src/lib.rs",
    "README.md" => "plugin-sdk/templates/rust/README.md",
    "input.json" => "plugin-sdk/templates/rust/input.json",
    "kith-plugin-sdk/Cargo.toml" => "plugin-sdk/Cargo.toml",
    "kith-plugin-sdk/wit/since_v0.2.0/types.wit" => "plugin-sdk/wit/since_v0.2.0/types.wit",
    "kith-plugin-sdk/wit/since_v0.2.0/worlds.wit" => "plugin-sdk/wit/since_v0.2.0/worlds.wit",
    "kith-plugin-sdk/src/log.rs" => "plugin-sdk/src/log.rs",
    "kith-plugin-sdk/src/bindings.rs" => "plugin-sdk/src/bindings.rs",
    "kith-plugin-sdk/src/config.rs" => "plugin-sdk/src/config.rs",
    "kith-plugin-sdk/src/export.rs" => "plugin-sdk/src/export.rs",
    "kith-plugin-sdk/src/ext.rs" => "plugin-sdk/src/ext.rs",
    "kith-plugin-sdk/src/lib.rs" => "plugin-sdk/src/lib.rs",
    "kith-plugin-sdk/src/money.rs" => "plugin-sdk/src/money.rs",
    "kith-plugin-sdk/src/plugin.rs" => "plugin-sdk/src/plugin.rs",
    "kith-plugin-sdk/src/testing.rs" => "plugin-sdk/src/testing.rs",
    "kith-plugin-sdk/src/time.rs" => "plugin-sdk/src/time.rs",
    "kith-plugin-sdk/src/commerce/mod.rs" => "plugin-sdk/src/commerce/mod.rs",
    "kith-plugin-sdk/src/commerce/signature.rs" => "plugin-sdk/src/commerce/signature.rs",
    "kith-plugin-sdk/src/commerce/values.rs" => "plugin-sdk/src/commerce/values.rs",
];

const PYTHON: &[File] = files![
    "app.py" => "plugin-sdk/templates/python/app.py",
    "test_app.py" => "plugin-sdk/templates/python/test_app.py",
    "build.sh" => "plugin-sdk/templates/python/build.sh",
    "README.md" => "plugin-sdk/templates/python/README.md",
    "input.json" => "plugin-sdk/templates/python/input.json",
    "kith_plugin/__init__.py" => "plugin-sdk/python/kith_plugin/__init__.py",
    "kith_plugin/testing.py" => "plugin-sdk/python/kith_plugin/testing.py",
    "native/componentize_py_types.py" => "plugin-sdk/python/native/componentize_py_types.py",
];

const JS: &[File] = files![
    "app.js" => "plugin-sdk/templates/js/app.js",
    "app.test.js" => "plugin-sdk/templates/js/app.test.js",
    "package.json" => "plugin-sdk/templates/js/package.json",
    "README.md" => "plugin-sdk/templates/js/README.md",
    "input.json" => "plugin-sdk/templates/js/input.json",
    "kith-plugin.js" => "plugin-sdk/js/kith-plugin.js",
    "kith-plugin-testing.js" => "plugin-sdk/js/kith-plugin-testing.js",
];

/// What each language's project keeps out of version control.
fn gitignore(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "/target\n/Cargo.lock\n",
        Lang::Python => "/.bindings\n__pycache__/\n*.wasm\n",
        Lang::Js => "/node_modules\n*.wasm\n",
    }
}

/// The names a template's placeholders stand for.
#[derive(Debug)]
struct Names {
    /// `{{name}}`: as given, e.g. `acme-fit`.
    name: String,
    /// `{{id}}`: the manifest's id.
    id: String,
    /// `{{crate}}`: the Rust library name, `acme_fit`.
    krate: String,
    /// `{{class}}`: a type name, `AcmeFit`.
    class: String,
}

impl Names {
    fn new(name: &str, id: Option<String>) -> anyhow::Result<Names> {
        let valid = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            bail!(
                "{name:?} is not a plugin name: use 1 to 64 lower-case letters, digits and '-', starting with a letter (e.g. acme-fit)"
            );
        }
        let id = id.unwrap_or_else(|| format!("example.{name}"));
        let id_ok = id.len() <= 128
            && id.split('.').count() >= 2
            && id.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !id_ok {
            bail!(
                "{id:?} is not a plugin id: use reverse-DNS style, lower-case, e.g. com.acme.fit"
            );
        }
        let class = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        Ok(Names {
            name: name.to_owned(),
            id,
            krate: name.replace('-', "_"),
            class,
        })
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{{name}}", &self.name)
            .replace("{{id}}", &self.id)
            .replace("{{file}}", &self.name)
            .replace("{{crate}}", &self.krate)
            .replace("{{class}}", &self.class)
    }
}

/// Writes the project; returns its directory.
pub(super) fn write(
    name: &str,
    lang: Lang,
    dir: Option<PathBuf>,
    id: Option<String>,
) -> anyhow::Result<PathBuf> {
    let names = Names::new(name, id)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not empty; choose another --dir",
            dir.display()
        );
    }
    let (files, wit) = match lang {
        Lang::Rust => (RUST, WIT_0_2),
        Lang::Python => (PYTHON, WIT_0_1),
        Lang::Js => (JS, WIT_0_1),
    };
    for (path, text) in files.iter().chain(wit) {
        // The SDK and the contract are copied as they are; the templates are filled in.
        let text = if path.starts_with("kith")
            || path.starts_with("wit/")
            || path.starts_with("native/")
        {
            (*text).to_owned()
        } else {
            names.fill(text)
        };
        put(&dir, path, &text)?;
    }
    put(&dir, ".gitignore", gitignore(lang))?;
    #[cfg(unix)]
    if lang == Lang::Python {
        use std::os::unix::fs::PermissionsExt as _;
        let script = dir.join("build.sh");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", script.display()))?;
    }
    Ok(dir)
}

fn put(dir: &Path, path: &str, text: &str) -> anyhow::Result<()> {
    let to = dir.join(path);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(&to, text).with_context(|| format!("cannot write {}", to.display()))
}

/// What to do next, printed after writing the project.
pub(super) fn next_steps(lang: Lang, dir: &Path) -> String {
    let cd = format!("cd {}", dir.display());
    match lang {
        Lang::Rust => format!(
            "{cd}\nrustup target add wasm32-unknown-unknown\ncargo test\ncargo build --release --target wasm32-unknown-unknown\nkith plugin run target/wasm32-unknown-unknown/release/*.wasm --input input.json"
        ),
        Lang::Python => format!(
            "{cd}\npip install componentize-py==0.25.1 pytest==8.3.4\n./build.sh\n(README.md: the kith plugin run line)"
        ),
        Lang::Js => format!(
            "{cd}\nnpm install\nnpm test\nnpm run build\n(README.md: the kith plugin run line)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_derived() {
        let n = Names::new("acme-fit", None).unwrap();
        assert_eq!(
            (n.id.as_str(), n.krate.as_str(), n.class.as_str()),
            ("example.acme-fit", "acme_fit", "AcmeFit")
        );
        for bad in ["", "Acme", "1fit", "fit-", "a b", "../x", &"x".repeat(65)] {
            assert!(Names::new(bad, None).is_err(), "{bad:?}");
        }
        for bad in ["fit", "com..fit", "Com.Acme", "com.acme/fit"] {
            assert!(Names::new("fit", Some(bad.into())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_project_is_written_only_into_an_empty_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fit");
        write("fit", Lang::Python, Some(dir.clone()), None).unwrap();
        let app = fs::read_to_string(dir.join("app.py")).unwrap();
        assert!(
            app.contains("class Fit(Plugin)") && app.contains("\"example.fit\""),
            "{app}"
        );
        assert!(!app.contains("{{"), "a placeholder is left: {app}");
        assert!(dir.join("wit/kith-plugin@0.1.0/worlds.wit").is_file());
        let err = write("fit", Lang::Js, Some(dir), None).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
    }

    /// The vendored SDK's dependencies (target-specific ones too) are the workspace's: the SDK
    /// crate does not inherit them, so that it builds outside the workspace.
    #[test]
    fn the_sdk_manifest_matches_the_workspace() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
        let read = |p: &str| -> toml::Table {
            toml::from_str(&fs::read_to_string(format!("{root}{p}")).unwrap()).unwrap()
        };
        let workspace = read("Cargo.toml");
        let sdk = read("plugin-sdk/Cargo.toml");
        let ws = &workspace["workspace"];
        assert_eq!(sdk["package"]["version"], ws["package"]["version"]);
        assert_eq!(sdk["package"]["edition"], ws["package"]["edition"]);
        let version = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            t => t["version"].as_str().unwrap().to_owned(),
        };
        let targets = sdk.get("target").and_then(|t| t.as_table());
        let per_target = targets
            .into_iter()
            .flat_map(|t| t.values())
            .filter_map(|t| t.get("dependencies")?.as_table());
        for (name, dep) in [sdk["dependencies"].as_table().unwrap()]
            .into_iter()
            .chain(per_target)
            .flatten()
        {
            let want = &ws["dependencies"][name.as_str()];
            assert_eq!(version(dep), version(want), "{name}");
            if let Some(features) = want.get("features") {
                assert_eq!(dep.get("features"), Some(features), "{name}");
            }
        }
    }
}
