" Vim syntax file
" Language:    nit, the model and training files of nitc (docs/language.md)
" Filenames:   *.nit
"
" The word lists come from the sources, not from guesses:
"   keywords        grammar/nit.l (the only reserved words)
"   layer kinds     compiler/sema_layers.c, table `layers`
"   train settings  compiler/sema_train.c, table `settings`
"   setting values  compiler/sema_train.c and runtime/nitabi.h
"                   (nit_recipe_names, nit_round_names, nit_groups_names)
" tests/companions/editors.sh checks that every one of them appears here.
"
" Tokens follow grammar/nit.l: '#' comments to the end of the line; integers
" [0-9]+; decimals [0-9]+.[0-9]+; digits followed by letters are an invalid
" number; strings "..." on one line with \" and \\ as the only escapes and no
" control characters; the characters - ( ) { } [ ] , = + ; and blanks; any
" other byte (non-ASCII included) outside comments and strings is an error.

if exists("b:current_syntax")
  finish
endif
let s:cpo_save = &cpo
set cpo&vim

syn case match
syn sync fromstart

" ---- tokens shared by every context ---------------------------------------

" A byte the scanner rejects ("unexpected character", non-ASCII).
syn match   nitError        /[^ \t\r"#A-Za-z0-9_(){}[\],=+;-]/
syn match   nitComment      /#.*$/ contains=@Spell
syn match   nitBadNumber    /\<\d\+\h\w*/
syn match   nitNumber       /\<\d\+\>/
syn match   nitDecimal      /\<\d\+\.\d\+/
" An unterminated string runs to the end of the line; a complete one
" (defined later, so it wins where both match) ends at its closing quote.
syn match   nitStringError  /"\%([^"\\]\|\\.\)*\\\=$/
syn match   nitString       /"\%([^"\\]\|\\.\)*"/ contains=nitEscape,nitBadEscape,nitCtrlChar
syn match   nitEscape       /\\[\\"]/ contained
syn match   nitBadEscape    /\\[^\\"]/ contained
syn match   nitCtrlChar     /[\x01-\x1f\x7f]/ contained
syn match   nitOperator     /[=+-]/
syn match   nitDelimiter    /[()[\],;]/
" Any identifier directly followed by '=' is an argument name
" (kernel=3, act=pseudo, exp=table, period=10, ...).
syn match   nitArgName      /\<\h\w*\ze\s*=/

syn cluster nitTokens contains=nitError,nitComment,nitBadNumber,nitNumber,nitDecimal,nitStringError,nitString,nitOperator,nitDelimiter,nitArgName

" ---- keywords (grammar/nit.l) ----------------------------------------------

" model NAME { ... }   and   train { ... }
syn keyword nitStructure    model nextgroup=nitModelName skipwhite
syn keyword nitStructure    train nextgroup=nitTrainBody skipwhite
syn match   nitModelName    /\h\w*/ contained nextgroup=nitModelBody skipwhite
syn region  nitModelBody    matchgroup=nitBrace start=/{/ end=/}/ contained fold contains=@nitTokens,nitStructure,nitKeyword,nitLayer
syn region  nitTrainBody    matchgroup=nitBrace start=/{/ end=/}/ contained fold contains=@nitTokens,nitStructure,nitKeyword,nitSetting,nitValue,nitRecipe,nitRounding,nitGrouping,nitCall,nitBitsCall,nitSchedule
syn match   nitBrace        /[{}]/

" input NAME[C, H, W]   output [NAME](N)   let NAME = expr
syn keyword nitKeyword      input output let nextgroup=nitName skipwhite
syn match   nitName         /\h\w*/ contained

" ---- the model body: layer kinds (compiler/sema_layers.c) -------------------

" A layer kind, optionally followed by the name of its result: conv c1(...)
syn keyword nitLayer        contained nextgroup=nitName skipwhite
      \ dense conv conv2d maxpool avgpool relu flatten dropout
      \ batchnorm layernorm l1norm l1layernorm

" ---- the train body: settings and their words (compiler/sema_train.c) -------

" A setting name starts a statement (a line, or after '{' or ';').
syn match   nitSetting      contained
      \ /\%(\%(^\|[{;]\)\s*\)\@<=\<\%(data\|batch\|epochs\|rounding\|update\|weights\|seed\|loss\|decay\|holdout\|recipe\|lr\|warmup\|momentum\|master\|bits\|groups\|clip\|lrscale\)\>/
syn keyword nitRecipe       contained niti ghaffari shiftquant unified
syn keyword nitRounding     contained pseudo stochastic nearest
syn keyword nitGrouping     contained channel sample tensor eighth octave
syn keyword nitValue        contained int8 int16 int32 on off table
syn keyword nitCall         contained idx softmax_ce cosine steps
" bits(3) and bits(12) are values; 'bits act=4' is the setting.
syn match   nitBitsCall     contained /\<bits\ze\s*(/
syn keyword nitSchedule     contained then at

" ---- colours ----------------------------------------------------------------

hi def link nitStructure    Structure
hi def link nitKeyword      Keyword
hi def link nitModelName    Identifier
hi def link nitName         Identifier
hi def link nitLayer        Function
hi def link nitSetting      Statement
hi def link nitRecipe       Type
hi def link nitRounding     Constant
hi def link nitGrouping     Constant
hi def link nitValue        Constant
hi def link nitCall         Function
hi def link nitBitsCall     Function
hi def link nitSchedule     Keyword
hi def link nitArgName      Special
hi def link nitNumber       Number
hi def link nitDecimal      Float
hi def link nitString       String
hi def link nitEscape       SpecialChar
hi def link nitBadEscape    Error
hi def link nitCtrlChar     Error
hi def link nitStringError  Error
hi def link nitBadNumber    Error
hi def link nitError        Error
hi def link nitComment      Comment
hi def link nitOperator     Operator
hi def link nitDelimiter    Delimiter
hi def link nitBrace        Delimiter

let b:current_syntax = "nit"
let &cpo = s:cpo_save
unlet s:cpo_save
