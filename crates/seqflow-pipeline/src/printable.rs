//! [`unfit_for_names`]: the characters no stage, consumer, pool or ring name may hold, because
//! names are printed to terminals (`seqflow ls`, `inspect`, logs).

/// Whether `c` may not appear in a name: a control character (a terminal escape could follow
/// it), or a bidirectional formatting character, which reorders the text printed after it so
/// that one name can be made to read as another.
///
/// ```
/// use seqflow_pipeline::unfit_for_names;
/// assert!(unfit_for_names('\n'));
/// assert!(unfit_for_names('\u{1b}'));
/// assert!(unfit_for_names('\u{202e}')); // right-to-left override
/// assert!(unfit_for_names('\u{2067}')); // right-to-left isolate
/// assert!(!unfit_for_names('ü'));
/// assert!(!unfit_for_names('-'));
/// ```
pub fn unfit_for_names(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' // arabic letter mark
                | '\u{200e}' // left-to-right mark
                | '\u{200f}' // right-to-left mark
                | '\u{202a}'..='\u{202e}' // embeddings and overrides
                | '\u{2066}'..='\u{2069}' // isolates
        )
}
