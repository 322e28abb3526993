//! PythTB's Chern numbers (golden numbers from `fixtures/pythtb_chern.py`, PythTB 1.8.0) are the
//! negatives of ours, and equal to ours in the textbook convention.
use chern::*;

#[test]
fn textbook_sign_matches_pythtb() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pythtb_chern.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    let mut non_zero = 0;
    for (n, case) in cases.iter().enumerate() {
        let model = TightBinding::parse(
            &case["model"].to_string(),
            ModelFormat::Json,
            std::path::Path::new(path),
        )
        .unwrap();
        let l = case["grid"].as_u64().unwrap() as usize;
        let occupied = BandSet::lowest(case["occupied"].as_u64().unwrap() as usize);
        let expected = case["pythtb_chern"].as_i64().unwrap();
        // The lattice number PythTB computes on the same grid, also where the grid is too coarse
        // for `chern_number_of` to give it out (one case has a plaquette flux of 2.99).
        let links = links_of(&model, &[l, l], &occupied, &Tolerances::default()).unwrap();
        let ours = chern_number_of_links(&links, Method::Determinant).unwrap();
        assert_eq!(
            ours.chern, -expected,
            "case {n}: FHS sign is PythTB's negative"
        );
        let textbook = ours.clone().with_sign(SignConvention::Textbook);
        assert_eq!(textbook.chern, expected, "case {n}");
        assert_eq!(textbook.raw, -ours.raw);
        assert_eq!(textbook.flux, ours.flux.mapv(|f| -f));
        non_zero += usize::from(expected != 0);
    }
    assert!(non_zero >= 4, "the fixture must test signs");
}
