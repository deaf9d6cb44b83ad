package hoist

// Version is the version of this build of Hoist. Agents report it; the
// server gates what it sends by it.
const Version = "0.3.0"

// ArgvVersion is the lowest agent version that understands an application
// rule's argv: an older agent would ignore the field it does not know and
// elevate the program with any arguments, so it is never sent such a rule.
const ArgvVersion = "0.3.0"
