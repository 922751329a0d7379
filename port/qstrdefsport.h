// qstrs used by the port beyond those found automatically (none yet).
