//! `wasmgate new`: the plugin kit. Writes a plugin project for one world of
//! the WIT package in Rust, Python or JavaScript that builds, tests and runs
//! as it is: the world's WIT files (embedded from the repository's `wit/`,
//! so the kit works from a release bundle with no checkout), a small
//! handler that answers the world's protocol sensibly, its logic kept apart
//! from the bindings with a unit test in the language's own runner, a build
//! script that makes `<name>.wasm`, and a README that says how to build,
//! check, deploy and hot-swap it.
//!
//! Everything here is pure (a [`Project`] is a list of files in memory)
//! except [`Project::write`]; the templates are in `host/kit/`.

mod templates;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use templates::WORLDS;

/// The languages a project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Js];

    /// The language's own name.
    pub fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }

    /// The name `--lang` takes.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Lang {
    type Err = KitError;

    fn from_str(s: &str) -> Result<Lang, KitError> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Lang::Rust),
            "python" | "py" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            _ => Err(KitError::UnknownLang(s.to_string())),
        }
    }
}

/// Why no project was written.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error("unknown world {0:?} (known: {known})", known = world_names().join(", "))]
    UnknownWorld(String),
    #[error("unknown language {0:?} (known: rust, python, js)")]
    UnknownLang(String),
    #[error(
        "invalid plugin name {name:?}: {why} (a name is 1-64 lowercase ASCII letters, digits and single hyphens, starting with a letter; it names the crate or package, the file <name>.wasm and [plugins.<name>])"
    )]
    InvalidName { name: String, why: &'static str },
    #[error("{0} exists and is not empty: choose a new directory, or empty it first")]
    NotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The names `wasmgate new` accepts as a world.
pub fn world_names() -> Vec<&'static str> {
    WORLDS.iter().map(|w| w.name).collect()
}

/// Names cargo, Python or npm refuse or that would shadow something: Rust's
/// keywords and its standard crates.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "abstract", "alloc", "as", "async", "await", "become", "box", "break", "const", "continue",
    "core", "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen",
    "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override",
    "priv", "proc-macro", "pub", "ref", "return", "self", "static", "std", "struct", "super",
    "test", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual",
    "where", "while", "yield", "node-modules", "wit",
];

/// Checks a plugin name: it becomes a crate or package name, a file name and
/// a TOML table key, so only what all of them take is allowed.
pub fn validate_name(name: &str) -> Result<(), KitError> {
    let bad = |why| {
        Err(KitError::InvalidName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 64 {
        return bad("it is longer than 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("it does not start with a lowercase letter");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return if c.is_ascii_uppercase() {
            bad("it has an uppercase letter")
        } else {
            bad("it has a character other than a-z, 0-9 and -")
        };
    }
    if name.ends_with('-') || name.contains("--") {
        return bad("it ends in a hyphen or has two in a row");
    }
    if RESERVED.contains(&name) {
        return bad("it is reserved (a Rust keyword or standard crate)");
    }
    Ok(())
}

/// One file of a project, its path relative to the project's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub text: String,
    /// A script: written with the executable bits.
    pub executable: bool,
}

/// A plugin project, in memory.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub world: &'static str,
    pub lang: Lang,
    pub files: Vec<File>,
}

impl Project {
    /// The project for `world` in `lang`, named `name`.
    pub fn new(world: &str, lang: Lang, name: &str) -> Result<Project, KitError> {
        let world = WORLDS
            .iter()
            .find(|w| w.name == world)
            .ok_or_else(|| KitError::UnknownWorld(world.to_string()))?;
        validate_name(name)?;
        Ok(Project {
            name: name.to_string(),
            world: world.name,
            lang,
            files: templates::files(world, lang, name),
        })
    }

    /// Writes the project into `dir`, which must be absent or empty (it is
    /// created with its parents). A failure leaves nothing behind: a new
    /// directory is written under a hidden name beside it and renamed into
    /// place; an empty one is emptied again. Returns the paths written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, KitError> {
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => Err(KitError::NotADirectory(dir.to_path_buf())),
            Ok(_) => {
                let mut entries = std::fs::read_dir(dir).map_err(io_error("reading", dir))?;
                if entries.next().is_some() {
                    return Err(KitError::NotEmpty(dir.to_path_buf()));
                }
                self.write_files(dir).inspect_err(|_| self.remove_from(dir))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = match dir.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                std::fs::create_dir_all(parent).map_err(io_error("creating", parent))?;
                let staging = parent.join(format!(
                    ".{}.wasmgate-new-{}",
                    self.name,
                    std::process::id()
                ));
                let written = self
                    .write_files(&staging)
                    .and_then(|_| std::fs::rename(&staging, dir).map_err(io_error("creating", dir)))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_dir_all(&staging);
                    });
                written.map(|()| self.files.iter().map(|f| dir.join(&f.path)).collect())
            }
            Err(e) => Err(io_error("reading", dir)(e)),
        }
    }

    /// Removes what [`Project::write_files`] may have written under `root`
    /// (best effort: the error to report is the write's).
    fn remove_from(&self, root: &Path) {
        let mut dirs = std::collections::BTreeSet::new();
        for f in &self.files {
            let _ = std::fs::remove_file(root.join(&f.path));
            dirs.extend(
                Path::new(&f.path)
                    .ancestors()
                    .skip(1)
                    .filter(|d| !d.as_os_str().is_empty()),
            );
        }
        // Deepest first; a directory holding anything else stays.
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(root.join(d));
        }
    }

    /// Writes every file under `root` (created if absent).
    fn write_files(&self, root: &Path) -> Result<Vec<PathBuf>, KitError> {
        let mut written = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let path = root.join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_error("creating", parent))?;
            }
            std::fs::write(&path, &f.text).map_err(io_error("writing", &path))?;
            #[cfg(unix)]
            if f.executable {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .map_err(io_error("making executable", &path))?;
            }
            written.push(path);
        }
        Ok(written)
    }
}

/// Wraps an I/O error with what was being done to which path.
fn io_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KitError {
    let path = path.to_path_buf();
    move |source| KitError::Io { what, path, source }
}

/// `wasmgate new WORLD --lang LANG [--name NAME] [DIR]`: writes the project
/// and returns what to tell the user. The name defaults to DIR's last
/// component, else `my-<world>`; DIR defaults to `./<name>`.
pub fn new_command(
    world: &str,
    lang: &str,
    name: Option<&str>,
    dir: Option<&Path>,
) -> Result<String, KitError> {
    let lang: Lang = lang.parse()?;
    if !WORLDS.iter().any(|w| w.name == world) {
        return Err(KitError::UnknownWorld(world.to_string()));
    }
    let name = match (name, dir) {
        (Some(n), _) => n.to_string(),
        // `.` or `..` are named after the directory they are.
        (None, Some(d)) => match d
            .canonicalize()
            .unwrap_or_else(|_| d.to_path_buf())
            .file_name()
        {
            Some(n) => n.to_string_lossy().into_owned(),
            None => format!("my-{world}"),
        },
        (None, None) => format!("my-{world}"),
    };
    let project = Project::new(world, lang, &name)?;
    let dir = dir.map_or_else(|| PathBuf::from(&name), Path::to_path_buf);
    project.write(&dir)?;
    let d = dir.display();
    Ok(format!(
        "wrote a {lang} plugin of world {world:?} named {name:?} in {d} ({files} files)\n\
         next:\n  \
         {cd}{test:<22}# its unit tests\n  \
         {build:<22}# makes {name}.wasm\n  \
         wasmgate check {name}.wasm --world {world}\n\
         then copy {name}.wasm into the host's plugin directory: {d}/README.md says how",
        lang = lang.title(),
        files = project.files.len(),
        test = templates::test_command(lang),
        build = "./build.sh",
        cd = if dir == Path::new(".") {
            String::new()
        } else {
            format!("cd {d}\n  ")
        },
    ))
}

#[cfg(test)]
mod tests;
