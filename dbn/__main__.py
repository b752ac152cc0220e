from dbn.cli import main

main()
