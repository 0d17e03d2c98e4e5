use std::collections::BTreeSet;
use std::path::Path;

use super::templates::{WIT, componentize_qjs_version, wit_bindgen_version, wit_for};
use super::*;

/// Every path under `dir`, sorted.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out.sort();
    out
}

fn paths(p: &Project) -> BTreeSet<&str> {
    p.files.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn the_kit_knows_every_world_the_host_serves() {
    let host: BTreeSet<&str> = crate::protocol::WORLDS.iter().map(|w| w.name()).collect();
    let kit: BTreeSet<&str> = world_names().into_iter().collect();
    assert_eq!(
        kit, host,
        "a protocol world without a kit template, or the reverse"
    );
}

#[test]
fn the_embedded_wit_is_the_whole_package() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut on_disk = BTreeSet::new();
    for dir in [root.clone(), root.join("deps")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "wit") {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                on_disk.insert(rel);
            }
        }
    }
    let embedded: BTreeSet<String> = WIT.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(
        embedded, on_disk,
        "templates::WIT must list every file of wit/"
    );
}

#[test]
fn a_world_gets_the_shared_wit_and_its_own_file_only() {
    for w in WORLDS {
        let files: BTreeSet<&str> = wit_for(w.name).into_iter().map(|(p, _)| p).collect();
        let own = format!("{}.wit", w.name);
        assert!(files.contains(own.as_str()), "{}: {files:?}", w.name);
        for shared in [
            "worlds.wit",
            "admin.wit",
            "sessions.wit",
            "types.wit",
            "deps/io.wit",
        ] {
            assert!(files.contains(shared), "{}: no {shared}", w.name);
        }
        for other in WORLDS.iter().filter(|o| o.name != w.name) {
            let theirs = format!("{}.wit", other.name);
            assert!(!files.contains(theirs.as_str()), "{} has {theirs}", w.name);
        }
    }
}

#[test]
fn each_language_has_its_files() {
    let rust = Project::new("locker", Lang::Rust, "door").unwrap();
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "build.sh",
        "README.md",
        ".gitignore",
        "wit/locker.wit",
    ] {
        assert!(paths(&rust).contains(f), "rust: no {f}");
    }
    let py = Project::new("raw", Lang::Python, "echo").unwrap();
    for f in [
        "app.py",
        "handler.py",
        "test_handler.py",
        "requirements.txt",
        "build.sh",
        "wit/raw.wit",
    ] {
        assert!(paths(&py).contains(f), "python: no {f}");
    }
    let js = Project::new("chat", Lang::Js, "talk").unwrap();
    for f in [
        "app.js",
        "handler.js",
        "test/handler.test.mjs",
        "package.json",
        "package-lock.json",
        "build.sh",
        "wit/chat.wit",
    ] {
        assert!(paths(&js).contains(f), "js: no {f}");
    }
    let scripts: Vec<_> = js
        .files
        .iter()
        .filter(|f| f.executable)
        .map(|f| &f.path)
        .collect();
    assert_eq!(scripts, ["build.sh"]);
}

#[test]
fn every_template_is_filled_in() {
    for w in WORLDS {
        for lang in Lang::ALL {
            let p = Project::new(w.name, lang, "my-plugin").unwrap();
            for f in &p.files {
                assert!(
                    !f.text.contains("%%"),
                    "{} {lang} {}: a placeholder is left",
                    w.name,
                    f.path
                );
            }
            let readme = &p.files.iter().find(|f| f.path == "README.md").unwrap().text;
            for needle in [
                "wasmgate check my-plugin.wasm --world",
                "[plugins.my-plugin]",
                "file = \"my-plugin.wasm\"",
                "plugin = \"my-plugin\"",
                "mv /path/to/plugins/.my-plugin.wasm.tmp",
            ] {
                assert!(
                    readme.contains(needle),
                    "{} {lang}: README lacks {needle:?}",
                    w.name
                );
            }
            let build = &p.files.iter().find(|f| f.path == "build.sh").unwrap().text;
            assert!(
                build.contains(&format!("-w {}", w.name))
                    || build.contains(&format!("--world {}", w.name))
                    || lang == Lang::Rust
            );
            assert!(
                build.contains("\"my-plugin.wasm\""),
                "{} {lang}: build.sh",
                w.name
            );
        }
    }
}

#[test]
fn rust_projects_stand_alone_with_the_workspace_wit_bindgen() {
    let p = Project::new("raw", Lang::Rust, "my-echo").unwrap();
    let manifest = &p
        .files
        .iter()
        .find(|f| f.path == "Cargo.toml")
        .unwrap()
        .text;
    let t: toml::Table = manifest.parse().unwrap();
    assert_eq!(t["package"]["name"].as_str(), Some("my-echo"));
    assert!(
        t.contains_key("workspace"),
        "no [workspace]: a parent workspace would claim it"
    );
    let wasm = &t["target"]["cfg(target_arch = \"wasm32\")"]["dependencies"];
    assert_eq!(
        wasm["wit-bindgen"].as_str(),
        Some(wit_bindgen_version().as_str())
    );
    let lib = &p
        .files
        .iter()
        .find(|f| f.path == "src/lib.rs")
        .unwrap()
        .text;
    assert!(lib.contains(r#"world: "raw", path: "wit""#));
    let build = &p.files.iter().find(|f| f.path == "build.sh").unwrap().text;
    assert!(build.contains("release/my_echo.wasm"), "{build}");
}

#[test]
fn python_and_js_projects_pin_the_repository_toolchains() {
    let py = Project::new("locker", Lang::Python, "door").unwrap();
    let req = &py
        .files
        .iter()
        .find(|f| f.path == "requirements.txt")
        .unwrap()
        .text;
    assert_eq!(req, templates::PY_REQUIREMENTS);
    assert!(req.starts_with("componentize-py=="));

    let js = Project::new("raw", Lang::Js, "echo").unwrap();
    let json = |path: &str| -> serde_json::Value {
        serde_json::from_str(&js.files.iter().find(|f| f.path == path).unwrap().text).unwrap()
    };
    let package = json("package.json");
    let lock = json("package-lock.json");
    let qjs = componentize_qjs_version();
    assert_eq!(package["name"], "echo");
    assert_eq!(package["devDependencies"]["componentize-qjs"], qjs.as_str());
    assert_eq!(lock["name"], "echo");
    assert_eq!(
        lock["packages"][""]["devDependencies"],
        package["devDependencies"]
    );
    assert_eq!(
        lock["packages"]["node_modules/componentize-qjs"]["version"],
        qjs.as_str()
    );
}

#[test]
fn names_are_checked() {
    for ok in ["a", "locker", "my-locker-2", &"a".repeat(64)] {
        validate_name(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
    for bad in [
        "",
        "2fast",
        "-x",
        "x-",
        "a--b",
        "My",
        "my_plugin",
        "a.b",
        "a/b",
        "../x",
        "caf\u{e9}",
        "self",
        "test",
        &"a".repeat(65),
    ] {
        let e = validate_name(bad).unwrap_err();
        assert!(matches!(e, KitError::InvalidName { .. }), "{bad:?}: {e}");
        assert!(e.to_string().contains("invalid plugin name"), "{e}");
    }
}

#[test]
fn refusals_say_what_is_known() {
    let e = Project::new("ftp", Lang::Rust, "x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown world \"ftp\" (known: locker, chat, exec, plate, raw, smarthome, greet)"
    );
    // The base worlds are not protocols.
    assert!(Project::new("plugin", Lang::Rust, "x").is_err());
    assert!(Project::new("imports", Lang::Rust, "x").is_err());
    let e = "go".parse::<Lang>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown language \"go\" (known: rust, python, js)"
    );
    assert_eq!("Python".parse::<Lang>().unwrap(), Lang::Python);
    assert_eq!("javascript".parse::<Lang>().unwrap(), Lang::Js);
}

#[test]
fn a_project_is_written_only_into_an_empty_or_new_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Project::new("raw", Lang::Python, "echo").unwrap();

    let fresh = tmp.path().join("a/b/echo");
    let written = p.write(&fresh).unwrap();
    assert_eq!(written.len(), p.files.len());
    assert!(written.iter().all(|f| f.starts_with(&fresh) && f.is_file()));
    assert!(fresh.join("wit/deps/io.wit").is_file());
    // Written beside it under a hidden name, then renamed: nothing else left.
    let beside: Vec<_> = std::fs::read_dir(tmp.path().join("a/b")).unwrap().collect();
    assert_eq!(beside.len(), 1);

    // What a failed write into an empty directory leaves: nothing.
    let emptied = tmp.path().join("emptied");
    p.write_files(&emptied).unwrap();
    std::fs::write(emptied.join("wit/mine.txt"), "not the kit's").unwrap();
    p.remove_from(&emptied);
    let left: Vec<_> = walk(&emptied);
    assert_eq!(left, [emptied.join("wit"), emptied.join("wit/mine.txt")]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fresh.join("build.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "build.sh is not executable");
    }

    // Not again over it.
    let e = p.write(&fresh).unwrap_err();
    assert!(matches!(e, KitError::NotEmpty(_)), "{e}");
    assert!(e.to_string().contains("exists and is not empty"));

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    p.write(&empty).unwrap();

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        p.write(&file).unwrap_err(),
        KitError::NotADirectory(_)
    ));
}

#[test]
fn the_command_names_the_project_after_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("door-policy");
    let said = new_command("locker", "rust", None, Some(&dir)).unwrap();
    assert!(said.contains("named \"door-policy\""), "{said}");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"door-policy\""));

    // An existing directory given as `.` names the project too.
    let here = tmp.path().join("here");
    std::fs::create_dir(&here).unwrap();
    let said = new_command("raw", "js", None, Some(&here.join("../here/."))).unwrap();
    assert!(said.contains("named \"here\""), "{said}");
    assert!(here.join("package.json").is_file());

    // A directory whose name is not a plugin name needs --name.
    let e = new_command(
        "locker",
        "rust",
        None,
        Some(&tmp.path().join("Door Policy")),
    )
    .unwrap_err();
    assert!(matches!(e, KitError::InvalidName { .. }), "{e}");
    new_command(
        "locker",
        "rust",
        Some("door"),
        Some(&tmp.path().join("Door Policy")),
    )
    .unwrap();

    // The world and the language are checked before the name.
    assert!(matches!(
        new_command("nope", "rust", Some("BAD"), None).unwrap_err(),
        KitError::UnknownWorld(_)
    ));
    assert!(matches!(
        new_command("raw", "cobol", Some("BAD"), None).unwrap_err(),
        KitError::UnknownLang(_)
    ));
}
