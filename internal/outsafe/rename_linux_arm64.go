package outsafe

const sysRenameat2 = 276 // SYS_RENAMEAT2
