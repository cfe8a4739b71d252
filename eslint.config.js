import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', 'bench/results/**'] }),
  {
    rules: {
      '@stylistic/comma-dangle': 'off',
      '@stylistic/space-before-function-paren': 'off',
      // ${env:…} / ${secret:…} references are tollgate syntax, not mistaken template literals
      'no-template-curly-in-string': 'off'
    }
  }
]
