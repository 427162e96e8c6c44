package outsafe

const sysRenameat2 = 316 // SYS_RENAMEAT2 (the syscall package lacks it on amd64)
