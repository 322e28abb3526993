//! The paper's multiple-choice scoring: class probabilities from full-vocabulary logits at the
//! answer position.

use ndarray::{Array3, ArrayView3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::{Probabilities, Real};

/// How the $K$ answer tokens' probabilities become a class distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerScoring {
    /// The paper's code: softmax over the whole vocabulary, keep the $K$ answer tokens'
    /// probabilities and append the residual "other" class $1 - \sum_k p_k$ ($K + 1$ columns,
    /// not renormalised). The residual is computed as the sum over the non-answer tokens, so it
    /// is never negative.
    WithResidual,
    /// Softmax over the answer tokens' logits only ($K$ columns).
    Renormalised,
}

impl AnswerScoring {
    /// Number of classes produced for `answers` answer tokens.
    pub fn classes(self, answers: usize) -> usize {
        match self {
            Self::WithResidual => answers + 1,
            Self::Renormalised => answers,
        }
    }
}

fn check_answers(answer_tokens: &[usize], vocabulary: usize) -> Result<()> {
    if answer_tokens.is_empty() {
        return Err(Error::empty("answer tokens (no classes to score)"));
    }
    for (position, &token) in answer_tokens.iter().enumerate() {
        if token >= vocabulary {
            return Err(Error::AnswerToken {
                token,
                position,
                vocabulary,
                reason: "out of range",
            });
        }
        if answer_tokens[..position].contains(&token) {
            return Err(Error::AnswerToken {
                token,
                position,
                vocabulary,
                reason: "repeated",
            });
        }
    }
    Ok(())
}

/// Writes the class distribution of one vocabulary-logit row into `out`.
fn score_row<T: Real>(row: &[T], answer_tokens: &[usize], scoring: AnswerScoring, out: &mut [f64]) {
    let k = answer_tokens.len();
    match scoring {
        AnswerScoring::Renormalised => {
            let zmax = answer_tokens
                .iter()
                .map(|&t| row[t].to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let mut s = 0.0;
            for (o, &t) in out.iter_mut().zip(answer_tokens) {
                *o = (row[t].to_f64() - zmax).exp();
                s += *o;
            }
            for o in out.iter_mut() {
                *o /= s;
            }
        }
        AnswerScoring::WithResidual => {
            let zmax = row
                .iter()
                .map(|z| z.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = row.iter().map(|z| (z.to_f64() - zmax).exp()).sum();
            let mut answers = 0.0;
            for (o, &t) in out[..k].iter_mut().zip(answer_tokens) {
                *o = (row[t].to_f64() - zmax).exp();
                answers += *o;
            }
            let rest = (total - answers).max(0.0);
            for o in out[..k].iter_mut() {
                *o /= total;
            }
            out[k] = rest / total;
        }
    }
}

/// Class probabilities of one vocabulary-logit vector.
///
/// # Errors
/// [`Error::AnswerToken`] for an out-of-range or repeated id, [`Error::NonFinite`] (member 0,
/// sample 0) for a non-finite logit, [`Error::EmptyInput`] without answer tokens.
pub fn answer_probabilities(
    vocabulary_logits: &[f64],
    answer_tokens: &[usize],
    scoring: AnswerScoring,
) -> Result<Vec<f64>> {
    check_answers(answer_tokens, vocabulary_logits.len())?;
    if let Some((class, &value)) = vocabulary_logits
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(Error::NonFinite {
            member: 0,
            sample: 0,
            class,
            value,
        });
    }
    let mut out = vec![0.0; scoring.classes(answer_tokens.len())];
    score_row(vocabulary_logits, answer_tokens, scoring, &mut out);
    Ok(out)
}

/// Member class probabilities $(M, N, K)$ or $(M, N, K+1)$ from vocabulary logits $(M, N, V)$.
///
/// # Errors
/// As [`answer_probabilities`], naming member and sample of a non-finite logit.
pub fn answer_member_probabilities<T: Real>(
    vocabulary_logits: ArrayView3<'_, T>,
    answer_tokens: &[usize],
    scoring: AnswerScoring,
) -> Result<Probabilities<f64>> {
    let (m, n, v) = vocabulary_logits.dim();
    check_answers(answer_tokens, v)?;
    let k = scoring.classes(answer_tokens.len());
    let mut out = Array3::<f64>::zeros((m, n, k));
    let mut row_buf = Vec::with_capacity(v);
    for mi in 0..m {
        for i in 0..n {
            row_buf.clear();
            row_buf.extend(
                vocabulary_logits
                    .slice(ndarray::s![mi, i, ..])
                    .iter()
                    .copied(),
            );
            if let Some((class, value)) = row_buf
                .iter()
                .map(|z| z.to_f64())
                .enumerate()
                .find(|(_, z)| !z.is_finite())
            {
                return Err(Error::NonFinite {
                    member: mi,
                    sample: i,
                    class,
                    value,
                });
            }
            let mut dst = out.slice_mut(ndarray::s![mi, i, ..]);
            let dst = dst.as_slice_mut().ok_or_else(|| {
                Error::empty(format!(
                    "answer probabilities of shape ({m}, {n}, {k}) (every extent must be at least 1)"
                ))
            })?;
            score_row(&row_buf, answer_tokens, scoring, dst);
        }
    }
    Probabilities::new(out)
}
