//! Progress bars on the terminal (feature `progress`, on by default; without it every bar is a
//! no-op and the crate does not depend on `indicatif`).

/// A progress bar over a count of steps, hidden unless asked for.
#[derive(Debug)]
pub(crate) struct Progress {
    #[cfg(feature = "progress")]
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A bar of `len` steps drawn with `template` (indicatif syntax) when `visible`.
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub(crate) fn new(len: u64, template: &str, visible: bool) -> Progress {
        #[cfg(feature = "progress")]
        {
            let bar = if visible {
                indicatif::ProgressBar::new(len)
            } else {
                indicatif::ProgressBar::hidden()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            Progress { bar }
        }
        #[cfg(not(feature = "progress"))]
        Progress {}
    }

    /// Advances by `n` steps.
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub(crate) fn inc(&self, n: u64) {
        #[cfg(feature = "progress")]
        self.bar.inc(n);
    }

    /// Sets the position.
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub(crate) fn set_position(&self, pos: u64) {
        #[cfg(feature = "progress")]
        self.bar.set_position(pos);
    }

    /// Sets the message shown after the bar.
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub(crate) fn set_message(&self, message: impl FnOnce() -> String) {
        #[cfg(feature = "progress")]
        self.bar.set_message(message());
    }

    /// Leaves the finished bar on the terminal.
    pub(crate) fn finish(&self) {
        #[cfg(feature = "progress")]
        self.bar.finish();
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish_and_clear(&self) {
        #[cfg(feature = "progress")]
        self.bar.finish_and_clear();
    }
}
