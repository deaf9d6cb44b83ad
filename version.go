package hoist

// Version is the version of this build of Hoist. Agents report it; the
// server gates what it sends by it.
const Version = "0.4.0"

// ArgvVersion is the lowest agent version that understands an application
// rule's argv: an older agent would ignore the field it does not know and
// elevate the program with any arguments, so it is never sent an elevate
// or justify rule with argv (a deny, audit or allow without its argv only
// does more of the same; see Policy.NeedsVersion).
const ArgvVersion = "0.3.0"
