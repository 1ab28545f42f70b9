//! [`unfit_for_names`]: the characters no stage, consumer, pool or ring name may hold, because
//! names are printed to terminals (`seqflow ls`, `inspect`, logs).

/// Whether `c` may not appear in a name:
/// - a control character (a terminal escape could follow it);
/// - a format character (Unicode category Cf: bidirectional overrides, which reorder the text
///   printed after them, and invisible ones such as zero-width spaces and joiners, the soft
///   hyphen or the byte-order mark), so that one name cannot be made to read as another;
/// - a line or paragraph separator (U+2028, U+2029), which breaks lines in logs;
/// - the invisible fillers and selectors that render as nothing (U+034F, U+115F, U+1160,
///   U+3164, U+FFA0, variation selectors).
///
/// ```
/// use seqflow_pipeline::unfit_for_names;
/// assert!(unfit_for_names('\n'));
/// assert!(unfit_for_names('\u{1b}'));
/// assert!(unfit_for_names('\u{202e}')); // right-to-left override
/// assert!(unfit_for_names('\u{200b}')); // zero-width space
/// assert!(unfit_for_names('\u{200d}')); // zero-width joiner
/// assert!(unfit_for_names('\u{feff}')); // byte-order mark
/// assert!(unfit_for_names('\u{2028}')); // line separator
/// assert!(!unfit_for_names('ü'));
/// assert!(!unfit_for_names('-'));
/// assert!(!unfit_for_names('注'));
/// ```
pub fn unfit_for_names(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Format characters (general category Cf).
            '\u{00ad}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061c}'
                | '\u{06dd}'
                | '\u{070f}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08e2}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
                // Line and paragraph separators (Zl, Zp).
                | '\u{2028}'
                | '\u{2029}'
                // Invisible fillers and selectors.
                | '\u{034f}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{3164}'
                | '\u{ffa0}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{e0100}'..='\u{e01ef}'
        )
}
