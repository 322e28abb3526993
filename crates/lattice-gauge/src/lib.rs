//! U(n) lattice gauge fields (in progress).
