//! Tight-binding hopping lists (JSON, TOML) and Wannier90 `_hr.dat` files: the same physics as the
//! built-in models, and malformed files reported with file, line and field.
use chern::*;
mod common;
use common::{qwz_toml, temp_file, weyl_hr_dat};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

fn assert_same_hamiltonian(a: &impl BlochHamiltonian, b: &impl BlochHamiltonian) {
    for k in [[0.1, 0.2], [1.3, -0.7], [3.0, 2.0]] {
        let (ha, hb) = (a.hamiltonian(&k), b.hamiltonian(&k));
        for (x, y) in ha.iter().zip(&hb) {
            assert!((x - y).norm() < 1e-12, "{ha:?} vs {hb:?}");
        }
    }
}

#[test]
fn hopping_lists_reproduce_qwz_in_toml_and_json() {
    for (m, c) in [(1.0, 1), (-1.0, -1), (3.0, 0)] {
        let toml_path = temp_file(&format!("qwz{m}.toml"), &qwz_toml(m));
        let tb = TightBinding::from_file(&toml_path).unwrap();
        assert_same_hamiltonian(&tb, &Qwz::new(m));
        let json_path = temp_file(
            &format!("qwz{m}.json"),
            &serde_json::to_string_pretty(&tb).unwrap(),
        );
        let from_json = TightBinding::from_file(&json_path).unwrap();
        assert_eq!(from_json, tb);
        for l in [24, 32] {
            let r = chern_number_of(
                &from_json,
                &[l, l],
                &BandSet::lowest(1),
                &ChernConfig::default(),
            )
            .unwrap();
            assert_eq!(r.chern, c);
        }
    }
}

fn model_file_error(e: Error) -> (PathBuf, usize, String, String) {
    match e {
        Error::ModelFile {
            file,
            line,
            field,
            reason,
            ..
        } => (file, line, field, reason),
        e => panic!("expected a model-file error, got {e}"),
    }
}

#[test]
fn malformed_hopping_lists_name_file_line_and_field() {
    let path = Path::new("bad.json");
    let text = "{\n  \"dim\": 2,\n  \"orbitals\": 2,\n  \"hoppings\": [\n    {\"i\": 0, \"j\": 5, \"R\": [1, 0], \"t\": 1.0}\n  ]\n}";
    let (file, line, field, reason) =
        model_file_error(TightBinding::parse(text, ModelFormat::Json, path).unwrap_err());
    assert_eq!(file, path);
    // Checks that need the header run once the element is read, when serde_json's position is
    // already on the next line: the error names the line of the offending key.
    assert_eq!(line, 5);
    assert_eq!(field, "hoppings[0]");
    assert!(reason.contains("`j`") && reason.contains('5'), "{reason}");

    // One key per line, the bad hopping second: the line of its `"R"`, its column.
    let text = "{\n  \"dim\": 2,\n  \"orbitals\": 2,\n  \"hoppings\": [\n    {\"i\": 0, \"j\": 1, \"R\": [1, 0], \"t\": 1.0},\n    {\n      \"i\": 1,\n      \"j\": 0,\n      \"R\": [0, 1, 0],\n      \"t\": [0.5, 0.0]\n    }\n  ]\n}";
    let err = TightBinding::parse(text, ModelFormat::Json, path).unwrap_err();
    let message = err.to_string();
    let (_, line, field, reason) = model_file_error(err);
    assert_eq!(line, 9, "{message}");
    assert!(message.contains("line 9, column 7"), "{message}");
    assert_eq!(field, "hoppings[1]");
    assert!(reason.contains("`R`"), "{reason}");

    // An amplitude that is neither a number nor a pair (checked once read): its own line.
    let bad_t = text
        .replace("[0.5, 0.0]", "[0.5, \"],{\"]")
        .replace("[0, 1, 0]", "[0, 1]");
    let (_, line, field, _) =
        model_file_error(TightBinding::parse(&bad_t, ModelFormat::Json, path).unwrap_err());
    assert_eq!((line, field.as_str()), (10, "hoppings[1].t"));

    // Elements spread over lines, the bad one third.
    let text = "{\n  \"dim\": 1,\n  \"orbitals\": 2,\n  \"onsite\": [0.0, 0.0],\n  \"hoppings\": [\n    {\"i\": 0, \"j\": 1, \"R\": [1], \"t\": 1.0},\n    {\"i\": 0, \"j\": 1, \"R\": [2], \"t\": [1.0, 0.0]},\n    {\"i\": 2, \"j\": 1,\n     \"R\": [1], \"t\": 1.0}\n  ]\n}";
    let (_, line, field, reason) =
        model_file_error(TightBinding::parse(text, ModelFormat::Json, path).unwrap_err());
    assert_eq!((line, field.as_str()), (8, "hoppings[2]"), "{reason}");

    let text = "{\n  \"dim\": 2,\n  \"orbitals\": 2,\n  \"hoppings\": [\n    {\"i\": 0, \"j\": 1, \"R\": [1, 0], \"t\": \"x\"}\n  ]\n}";
    let (_, line, field, _) =
        model_file_error(TightBinding::parse(text, ModelFormat::Json, path).unwrap_err());
    assert_eq!(line, 5);
    assert!(field.starts_with("hoppings[0]"), "{field}");

    let text = "{\n  \"dim\": 2,\n  \"orbitals\": 2,\n  \"onsite\": [1.0, 2.0, 3.0]\n}";
    let (_, _, field, _) =
        model_file_error(TightBinding::parse(text, ModelFormat::Json, path).unwrap_err());
    assert_eq!(field, "onsite");

    let text = "{\n  \"dim\": 2\n}";
    let (_, _, _, reason) =
        model_file_error(TightBinding::parse(text, ModelFormat::Json, path).unwrap_err());
    assert!(reason.contains("orbitals"), "{reason}");

    let toml_path = Path::new("bad.toml");
    let text = qwz_toml(1.0).replace(
        "R = [0, 1]\nt = 0.5\n[[hoppings]]\ni = 1",
        "R = [0, 1, 2]\nt = 0.5\n[[hoppings]]\ni = 1",
    );
    let (file, line, field, reason) =
        model_file_error(TightBinding::parse(&text, ModelFormat::Toml, toml_path).unwrap_err());
    assert_eq!(file, toml_path);
    let expected_line = text
        .lines()
        .position(|l| l.starts_with("R = [0, 1, 2]"))
        .unwrap()
        + 1;
    assert!(
        line >= expected_line - 4 && line <= expected_line,
        "line {line}, expected near {expected_line}"
    );
    assert!(field.starts_with("hoppings[1]"), "{field}");
    assert!(reason.contains("`R`"), "{reason}");

    let missing = TightBinding::from_file("/nonexistent/model.toml").unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
}

#[test]
fn wannier90_planes_reproduce_qwz() {
    let path = temp_file("weyl_hr.dat", &weyl_hr_dat(0.5));
    let w = Wannier90::from_file(&path).unwrap();
    assert_eq!(w.num_wann(), 2);
    // k3 = 0: QWZ(1.5), C = 1; k3 = pi: QWZ(-0.5), C = -1.
    for (k3, m, c) in [(0.0, 1.5, 1), (PI, -0.5, -1)] {
        let plane = w.clone().plane_k3(k3).unwrap();
        assert_same_hamiltonian(&plane, &Qwz::new(m));
        for l in [24, 36] {
            assert_eq!(
                chern_number_of(
                    &plane,
                    &[l, l],
                    &BandSet::lowest(1),
                    &ChernConfig::default()
                )
                .unwrap()
                .chern,
                c
            );
        }
    }
    // Another plane: (k1, k3) at k2 = pi/2.
    let plane = Plane::new(w, (0, 2), PI / 2.0).unwrap();
    let r = chern_number_of(
        &plane,
        &[24, 24],
        &BandSet::lowest(1),
        &ChernConfig::default(),
    );
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn malformed_wannier90_files_name_line_and_field() {
    let good = weyl_hr_dat(0.5);
    let path = Path::new("x_hr.dat");
    let lines: Vec<&str> = good.lines().collect();
    // Corrupt one matrix element on line 10.
    let mut bad: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    bad[9] = bad[9].replace(".", ",");
    let (file, line, field, _) =
        model_file_error(Wannier90::parse(&bad.join("\n"), path).unwrap_err());
    assert_eq!(file, path);
    assert_eq!(line, 10);
    assert!(field == "Re" || field == "Im", "{field}");
    // An orbital index beyond num_wann.
    let mut bad: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let parts: Vec<&str> = lines[5].split_whitespace().collect();
    bad[5] = format!(
        "{} {} {} 3 {} {} {}",
        parts[0], parts[1], parts[2], parts[4], parts[5], parts[6]
    );
    let (_, line, field, _) =
        model_file_error(Wannier90::parse(&bad.join("\n"), path).unwrap_err());
    assert_eq!((line, field.as_str()), (6, "m"));
    // Truncated file.
    let truncated = lines[..lines.len() - 1].join("\n");
    let (_, _, field, reason) = model_file_error(Wannier90::parse(&truncated, path).unwrap_err());
    assert_eq!(field, "hopping");
    assert!(reason.contains("end of file"));
    // Bad num_wann.
    let (_, line, field, _) =
        model_file_error(Wannier90::parse("header\ntwo\n", path).unwrap_err());
    assert_eq!((line, field.as_str()), (2, "num_wann"));
}
