from derivo.cli import main

main()
