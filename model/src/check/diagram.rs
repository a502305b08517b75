//! Diagrams drawn from the transitions the checker reached.
