package hoist

// Version is the version of this build of Hoist. Agents report it; the
// server gates what it sends by it.
const Version = "0.2.0"
