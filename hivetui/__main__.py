from hivetui.cli import main

raise SystemExit(main())
