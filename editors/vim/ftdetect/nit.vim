" nitc model files (docs/language.md)
autocmd BufRead,BufNewFile *.nit setfiletype nit
